package passwd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gqmail/gqmail/internal/lineerr"
)

// maxLine is the longest line read; a longer one ends the import.
const maxLine = 64 << 10

// Reasons given for bad lines, stable for tests and administrators'
// scripts. Some are completed with details.
const (
	reasonNUL      = "NUL byte in line"
	reasonCR       = "carriage return inside the line"
	reasonNoColon  = `no ":" after the login`
	reasonNoHash   = "empty password field"
	reasonNoBrace  = `"{" with no "}" in the password field`
	reasonScheme   = "scheme {%s} is not accepted (%s)"
	reasonUnknown  = "a scheme gqmail does not know (%s)"
	reasonMismatch = "scheme {%s} holds a hash that is not %s"
	reasonDup      = "login %q is also on line %d"
)

const acceptedSchemes = "accepted: {BLF-CRYPT}, {ARGON2ID}, {SHA512-CRYPT}, {SHA256-CRYPT}, {CRYPT} of those, or a bare $2y$, $6$, $5$ or $argon2id$ hash"

// dovecotSchemes are Dovecot's password schemes that gqmail refuses, which
// a reason may name. Any other text in braces is not named: it may be a
// password.
var dovecotSchemes = []string{
	"PLAIN", "CLEARTEXT", "PLAIN-TRUNC", "PLAIN-MD4", "PLAIN-MD5", "LDAP-MD5",
	"CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "HMAC-MD5",
	"MD5", "MD5-CRYPT", "SMD5", "DES-CRYPT", "SHA", "SHA1", "SHA256", "SHA512",
	"SSHA", "SSHA256", "SSHA512", "ARGON2I", "PBKDF2", "LANMAN", "NTLM",
	"OTP", "SKEY", "RPA",
}

// knownScheme says whether an upper-cased scheme is one of
// dovecotSchemes, with or without an encoding suffix (".HEX", ".B64").
func knownScheme(scheme string) bool {
	base, enc, hasEnc := strings.Cut(scheme, ".")
	if hasEnc && enc != "HEX" && enc != "B64" && enc != "BASE64" {
		return false
	}
	return slices.Contains(dovecotSchemes, base)
}

// Entry is a login and its hash, as read from line Line of a file.
type Entry struct {
	Login string // normalized
	Hash  string // without a Dovecot {SCHEME}
	Line  int
}

// ImportError lists every bad line of a Dovecot passwd-file, in file
// order. Its Name is the input's name as given to ParseDovecot or Import.
// It never holds a line's text (HideText is set, Text empty), which may be
// a password. Its message is lineerr's: one line a bad line, "<name> line
// N: <reason>", the first 100 of them, then "... and N more". It unwraps
// to one *LineError a line.
type ImportError struct{ lineerr.List }

// LineError is one bad line, as ImportError unwraps to it; it holds no
// text of the line.
type LineError = lineerr.Bad

// ParseDovecot reads a Dovecot passwd-file (see the package doc) and
// returns its logins in file order, or an *ImportError listing every bad
// line; name is used in messages. An error reading r is returned wrapped
// with name and the line it stopped at.
func ParseDovecot(r io.Reader, name string) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var (
		entries []Entry
		bad     []lineerr.Line
		seen    = map[string]int{}
		n       int
	)
	for sc.Scan() {
		n++
		e, reason := parseDovecotLine(sc.Text())
		switch {
		case reason != "":
			bad = append(bad, lineerr.Line{Line: n, Reason: reason})
		case e.Login == "":
			// blank or comment
		case seen[e.Login] != 0:
			bad = append(bad, lineerr.Line{Line: n, Reason: fmt.Sprintf(reasonDup, e.Login, seen[e.Login])})
		default:
			seen[e.Login] = n
			e.Line = n
			entries = append(entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("%s line %d: %w", name, n+1, err)
	}
	if len(bad) > 0 {
		return nil, &ImportError{lineerr.List{Name: name, Lines: bad, HideText: true}}
	}
	return entries, nil
}

// parseDovecotLine parses one line without its "\n": an entry, an empty
// entry for a line to skip, or the first reason the line is bad.
func parseDovecotLine(s string) (Entry, string) {
	switch t := strings.TrimLeft(s, " \t"); {
	case t == "" || t[0] == '#':
		return Entry{}, ""
	case strings.IndexByte(s, 0) >= 0:
		return Entry{}, reasonNUL
	case strings.IndexByte(s, '\r') >= 0:
		return Entry{}, reasonCR
	}
	login, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Entry{}, reasonNoColon
	}
	if fault := loginFault(login); fault != "" {
		return Entry{}, fault
	}
	key := asciiLower(login)
	field, _, _ := strings.Cut(rest, ":")
	hash, reason := dovecotHash(field)
	if reason != "" {
		return Entry{}, reason
	}
	if err := CheckHash(hash); err != nil {
		return Entry{}, err.Error()
	}
	return Entry{Login: key, Hash: hash}, ""
}

// dovecotHash takes the scheme off a password field and checks that the
// hash is of the scheme's kind. Its reasons never quote the field beyond
// the scheme's name.
func dovecotHash(field string) (hash, reason string) {
	if field == "" {
		return "", reasonNoHash
	}
	if field[0] != '{' {
		return field, "" // a bare hash: CheckHash says whether it is one
	}
	end := strings.IndexByte(field, '}')
	if end < 0 {
		return "", reasonNoBrace
	}
	scheme, hash := strings.ToUpper(field[1:end]), field[end+1:]
	want := ""
	switch scheme {
	case "BLF-CRYPT":
		want = kindBcrypt
	case "ARGON2ID":
		want = kindArgon2id
	case "SHA512-CRYPT":
		want = kindSHA512
	case "SHA256-CRYPT":
		want = kindSHA256
	case "CRYPT":
		// Dovecot hands {CRYPT} to crypt(3), which takes any of them.
		if kind(hash) == "" {
			return "", "scheme {CRYPT} holds a hash that is not bcrypt, argon2id, SHA512-CRYPT or SHA256-CRYPT (DES and MD5 crypt are not accepted)"
		}
		return hash, ""
	default:
		if !knownScheme(scheme) {
			return "", fmt.Sprintf(reasonUnknown, acceptedSchemes)
		}
		return "", fmt.Sprintf(reasonScheme, scheme, acceptedSchemes)
	}
	if kind(hash) != want {
		return "", fmt.Sprintf(reasonMismatch, scheme, want)
	}
	return hash, ""
}

// Import reads a Dovecot passwd-file and adds its logins to the table at
// path, replacing the hash of a login the table has, in one step. It
// returns how many logins the file had. If any line is bad the error is an
// *ImportError listing all of them, and the table is unchanged.
func Import(path string, r io.Reader, name string) (int, error) {
	entries, err := ParseDovecot(r, name)
	if err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return 0, nil
	}
	err = update(path, func(m map[string]string) bool {
		for _, e := range entries {
			m[e.Login] = e.Hash
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}
