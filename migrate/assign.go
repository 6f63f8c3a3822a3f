// The users/assign format, as qmail-newu reads it and as ParseAssign checks it.
//
// # Line kinds
//
// Each line ends with "\n" and is one of:
//
//	=local:user:uid:gid:homedir:dash:ext:   exact: the address local
//	+loc:user:uid:gid:homedir:dash:pre:     wildcard: every address beginning with loc
//	.                                       the terminator
//
// qmail-newu treats any first byte other than "+" like "="; ParseAssign
// refuses a line that starts with neither, and refuses empty lines (which
// qmail-newu refuses too, for want of a colon).
//
// # Fields
//
// The local part runs from the second byte to the first colon. It keeps its
// case here; lookups lowercase it. It may be empty only on a "+" line, where
// it makes the catch-all (+:alias:...). Six fields follow, each ended by a
// colon:
//
//	user     the account mail is delivered as: not empty, no white space
//	uid      decimal, no sign, at most 2147483647, not 0
//	gid      decimal, no sign, at most 2147483647
//	homedir  absolute
//	dash     "", "-" or "-/"
//	ext      for "=", the extension; for "+", the prefix put before the
//	         rest of the address
//
// Delivery reads homedir + "/.qmail" + dash + ext, plus for a wildcard the
// rest of the address after loc, in its original case. Anything after the
// colon that ends ext (the seventh colon of the line) is ignored, as
// qmail-newu ignores it.
//
// # Terminator
//
// The file must end with a line whose first byte is ".". qmail-newu stops
// at the first such line and ignores everything after it, so ParseAssign
// does not even read the rest. Reaching the end of the input first is an
// error (qmail-newu: "bad format in users/assign"): it means the file was
// cut short, and a cut-short table would silently lose users.
//
// # Precedence
//
// Not decided here, but the reason lines are kept in order and duplicates
// are kept: an exact entry beats every wildcard, a longer wildcard prefix
// beats a shorter one, and among entries with the same (lowercased) key the
// first line wins.
//
// # What is checked
//
// qmail-newu checks only that a line has no NUL byte and has a colon after
// the local part followed by at least six more. ParseAssign checks more,
// because an entry decides which uid mail is delivered as and which files
// it reads: a carriage return anywhere in a line, even in the part that is
// ignored (the file has been through a DOS editor, and a "\r" inside a
// field would become part of a user name or file name), an empty user name
// or one with white space, a uid or gid that is not a plain decimal number
// or does not fit in an int32, uid 0 (qmail-lspawn refuses to deliver as
// root, so such a line can only produce deferrals), a relative home
// directory, an unknown dash, and an "=" line with an empty local part.
// Each bad line is reported with the first reason that applies to it.

package migrate

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gqmail/gqmail/internal/lineerr"
	"github.com/gqmail/gqmail/store"
)

// Reasons given for bad lines. They are stable: tests and administrators'
// scripts may match them.
const (
	reasonNoTerminator = `no terminating "." line (qmail-newu: bad format in users/assign)`
	reasonEmpty        = "empty line"
	reasonNUL          = "NUL byte in line"
	reasonCR           = "carriage return in line: file has DOS line ends?"
	reasonKind         = "line must start with = or +"
	reasonNoColon      = `no ":" after the local part`
	reasonFewColons    = "fewer than 7 colons: want =local:user:uid:gid:homedir:dash:ext:"
	reasonEmptyLocal   = "empty local part"
	reasonEmptyUser    = "empty user name"
	reasonSpaceUser    = "white space in user name"
	reasonUIDSyntax    = "uid is not a decimal number"
	reasonUIDRange     = "uid is larger than 2147483647"
	reasonUIDRoot      = "uid 0: qmail never delivers as root"
	reasonGIDSyntax    = "gid is not a decimal number"
	reasonGIDRange     = "gid is larger than 2147483647"
	reasonHome         = "home directory is not absolute"
	reasonDash         = `dash must be "", "-" or "-/"`
)

// AssignError lists every bad line of an assign file (for ParseAssign) or
// every entry that cannot be written (for FormatAssign). Its Name is the
// input's name as given to ParseAssign, or "assign output" for
// FormatAssign. A line's Text is cut to its first 80 bytes; for a missing
// terminator, Line is one past the last line and Text is empty. Its
// message is lineerr's: one line a bad line, "<name> line N: <reason>:
// <text quoted with %q>", the first 100 of them, then "... and N more".
type AssignError struct{ lineerr.List }

// ParseAssign reads a qmail users/assign file. It returns every assignment
// in file order, or an error listing EVERY bad line (not just the first),
// each as "<name> line N: <reason>: <the line, quoted with %q, truncated to
// 80 bytes>"; name is used in messages.
//
// The error is an *AssignError, unless reading r fails, in which case it
// is that error, wrapped with name. ParseAssign stops reading at the
// terminator line. It returns no entries with an error.
func ParseAssign(r io.Reader, name string) ([]store.AssignEntry, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		// Entries are gathered in chunks and joined once at the end:
		// growing one slice copies and clears it over and over, which
		// was most of the time spent on a large file.
		chunks [][]store.AssignEntry
		chunk  []store.AssignEntry
		bad    []lineerr.Line
		long   []byte // holds lines longer than br's buffer
		n      int
	)
	for {
		raw, err := readLine(br, &long)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %w", name, n+1, err)
		}
		if len(raw) == 0 { // nothing left, and no terminator seen
			bad = append(bad, lineerr.Line{Line: n + 1, Reason: reasonNoTerminator})
			break
		}
		n++
		if raw[0] == '.' {
			break
		}
		s := string(bytes.TrimSuffix(raw, []byte{'\n'}))
		e, reason := parseAssignLine(s)
		if reason != "" {
			bad = append(bad, lineerr.Line{Line: n, Reason: reason, Text: lineerr.Cut(s)})
		} else if len(bad) == 0 {
			// Entries after the first bad line would be thrown away.
			if len(chunk) == cap(chunk) {
				chunks = append(chunks, chunk)
				chunk = make([]store.AssignEntry, 0, min(max(2*cap(chunk), 16), 4096))
			}
			chunk = append(chunk, e)
		}
		if err == io.EOF { // a last line without "\n" cannot be the terminator
			bad = append(bad, lineerr.Line{Line: n + 1, Reason: reasonNoTerminator})
			break
		}
	}
	if len(bad) > 0 {
		return nil, &AssignError{lineerr.List{Name: name, Lines: bad}}
	}
	return slices.Concat(append(chunks, chunk)...), nil
}

// readLine returns the next line with its "\n", if it has one; its bytes
// are good until the next call. At the end of the input it returns what is
// left (maybe nothing) and io.EOF.
func readLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	*long = append((*long)[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		*long = append(*long, line...)
	}
	return *long, err
}

// parseAssignLine parses one line without its "\n". It returns the entry,
// or the first reason the line is bad.
func parseAssignLine(s string) (store.AssignEntry, string) {
	var e store.AssignEntry
	switch {
	case s == "":
		return e, reasonEmpty
	case strings.IndexByte(s, 0) >= 0:
		return e, reasonNUL
	case strings.IndexByte(s, '\r') >= 0:
		return e, reasonCR
	case s[0] != '=' && s[0] != '+':
		return e, reasonKind
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return e, reasonNoColon
	}
	var f [6]string // user, uid, gid, homedir, dash, ext
	rest := s[colon+1:]
	for i := range f {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return e, reasonFewColons
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	// rest is ignored, as qmail-newu ignores it.

	e.Wildcard = s[0] == '+'
	e.Local = s[1:colon]
	e.User, e.Home, e.Dash, e.Ext = f[0], f[3], f[4], f[5]
	var ok bool
	switch {
	case !e.Wildcard && e.Local == "":
		return e, reasonEmptyLocal
	case e.User == "":
		return e, reasonEmptyUser
	case strings.ContainsFunc(e.User, unicode.IsSpace):
		return e, reasonSpaceUser
	}
	if e.UID, ok = parseID(f[1]); !ok {
		if e.UID < 0 {
			return e, reasonUIDSyntax
		}
		return e, reasonUIDRange
	}
	if e.UID == 0 {
		return e, reasonUIDRoot
	}
	if e.GID, ok = parseID(f[2]); !ok {
		if e.GID < 0 {
			return e, reasonGIDSyntax
		}
		return e, reasonGIDRange
	}
	if !strings.HasPrefix(e.Home, "/") {
		return e, reasonHome
	}
	// "-/" is what qmail-pw2u -/ writes: .qmail-/ext, files in a directory.
	if e.Dash != "" && e.Dash != "-" && e.Dash != "-/" {
		return e, reasonDash
	}
	return e, ""
}

// parseID parses a uid or gid: decimal digits only, at most 2^31-1. When
// it fails it returns -1 if s is not a number and 0 if s is too large.
func parseID(s string) (int, bool) {
	if s == "" {
		return -1, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1, false
		}
		if n = n*10 + int(c-'0'); n > 1<<31-1 {
			// Keep checking the syntax: "99999999999x" is not a number.
			for ; i < len(s); i++ {
				if s[i] < '0' || s[i] > '9' {
					return -1, false
				}
			}
			return 0, false
		}
	}
	return n, true
}

// truncate cuts the bytes queue.go quotes in its errors as lineerr cuts
// a bad line's text.
func truncate(s string) string { return lineerr.Cut(s) }

// FormatAssign writes entries in assign format, ending with the "." line,
// such that ParseAssign(FormatAssign(x)) == x for every x that ParseAssign
// returned.
//
// Entries that ParseAssign would not return the same way (a colon or
// newline in a field, uid 0, a relative home directory, ...) are refused:
// FormatAssign then writes nothing and returns an *AssignError named
// "assign output" whose line numbers are the lines the entries would have
// been written on (entry i on line i+1). Otherwise it returns the error of
// the one Write to w, if any.
func FormatAssign(w io.Writer, entries []store.AssignEntry) error {
	var (
		buf []byte
		bad []lineerr.Line
	)
	for i := range entries {
		e := &entries[i]
		start := len(buf)
		buf = appendAssignLine(buf, e)
		line := string(buf[start : len(buf)-1])
		if reason := formatCheck(e, line); reason != "" {
			bad = append(bad, lineerr.Line{Line: i + 1, Reason: reason, Text: lineerr.Cut(line)})
		}
	}
	if len(bad) > 0 {
		return &AssignError{lineerr.List{Name: "assign output", Lines: bad}}
	}
	buf = append(buf, ".\n"...)
	_, err := w.Write(buf)
	return err
}

func appendAssignLine(b []byte, e *store.AssignEntry) []byte {
	if e.Wildcard {
		b = append(b, '+')
	} else {
		b = append(b, '=')
	}
	b = append(b, e.Local...)
	b = append(b, ':')
	b = append(b, e.User...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(e.UID), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(e.GID), 10)
	b = append(b, ':')
	b = append(b, e.Home...)
	b = append(b, ':')
	b = append(b, e.Dash...)
	b = append(b, ':')
	b = append(b, e.Ext...)
	return append(b, ":\n"...)
}

// formatCheck says why line, written for e, would not read back as e.
func formatCheck(e *store.AssignEntry, line string) string {
	for _, f := range [...]struct{ name, v string }{
		{"local part", e.Local}, {"user name", e.User}, {"home directory", e.Home},
		{"dash", e.Dash}, {"extension", e.Ext},
	} {
		if strings.ContainsAny(f.v, ":\n") {
			return f.name + ` contains ":" or a newline`
		}
	}
	got, reason := parseAssignLine(line)
	if reason != "" {
		return reason
	}
	// The checks above should make this impossible; comparing is what
	// makes the round trip a guarantee rather than a hope.
	if got != *e {
		return "entry would not read back the same"
	}
	return ""
}
