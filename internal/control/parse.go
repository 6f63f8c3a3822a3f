package control

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// Parsers return a *FileError with Line set and File empty; the Dir fills in
// the path.

// firstLine returns the first line of data without its trailing spaces, tabs
// and CRs.
func firstLine(data []byte) string {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return trimTrailing(string(line))
}

func trimTrailing(s string) string { return strings.TrimRight(s, " \t\r") }

func parseSingle(data []byte) string { return firstLine(data) }

// parseInt parses an integer file. It refuses what qmail would read only in
// part ("20abc", "-5", "1e3"), so that a typo is reported instead of turning
// into a different limit.
func parseInt(data []byte) (int64, *FileError) {
	line := firstLine(data)
	digits := strings.TrimLeft(line, " \t")
	if digits == "" || strings.IndexFunc(digits, notDigit) >= 0 {
		return 0, &FileError{Line: 1, Err: fmt.Errorf("not a decimal number: %q", line)}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, &FileError{Line: 1, Err: fmt.Errorf("number out of range: %q", line)}
	}
	return n, nil
}

func notDigit(r rune) bool { return r < '0' || r > '9' }

// eachEntry calls fn with every entry of a list file and its line number,
// skipping empty lines and comments, and stops at the first error.
func eachEntry(data []byte, fn func(entry string) error) *FileError {
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		s := trimTrailing(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		err := checkEntry(s)
		if err == nil {
			err = fn(s)
		}
		if err != nil {
			return &FileError{Line: n, Err: err}
		}
	}
	return nil
}

// checkEntry refuses whitespace and control characters anywhere in an entry.
// qmail would keep them as part of the entry, which then never matches, so
// the line would silently do nothing.
func checkEntry(s string) error {
	if s[0] == ' ' || s[0] == '\t' {
		return fmt.Errorf("leading whitespace: %q", s)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			return fmt.Errorf("whitespace inside entry: %q", s)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("control character in entry: %q", s)
		}
	}
	return nil
}

// checkDomain accepts a host name or an address literal in brackets, and
// with suffix also a host name after a leading '.'.
func checkDomain(s string, suffix bool) error {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if strings.IndexFunc(s[1:len(s)-1], notLiteralChar) >= 0 || len(s) == 2 {
			return fmt.Errorf("not an address literal: %q", s)
		}
		return nil
	}
	name := s
	if suffix {
		name = strings.TrimPrefix(s, ".")
	}
	if name == "" || name[0] == '.' || strings.IndexFunc(name, notHostChar) >= 0 {
		if suffix {
			return fmt.Errorf("not a host name, .suffix or [address]: %q", s)
		}
		return fmt.Errorf("not a host name or [address]: %q", s)
	}
	return nil
}

func notHostChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		r == '-' || r == '.' || r == '_')
}

func notLiteralChar(r rune) bool { return notHostChar(r) && r != ':' }

// parseDomains parses locals (suffix false) or rcpthosts and morercpthosts
// (suffix true).
func parseDomains(data []byte, suffix bool) (DomainSet, *FileError) {
	m := map[string]struct{}{}
	err := eachEntry(data, func(s string) error {
		if err := checkDomain(s, suffix); err != nil {
			return err
		}
		m[address.Lower(s)] = struct{}{}
		return nil
	})
	if err != nil {
		return DomainSet{}, err
	}
	return DomainSet{m: m}, nil
}

func parseLocals(data []byte) (DomainSet, *FileError)    { return parseDomains(data, false) }
func parseRcptHosts(data []byte) (DomainSet, *FileError) { return parseDomains(data, true) }

// splitColon splits a colon-file entry at its first ':'.
func splitColon(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("no colon in %q", s)
	}
	return key, value, nil
}
