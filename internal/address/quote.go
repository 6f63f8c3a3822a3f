// Package address holds what gqmail does to envelope addresses in more
// than one place, as qmail does it: quoting them for SMTP commands and
// Return-Path lines, lowercasing them for comparison, and qualifying them
// as qmail-inject, newaliases and dot-forward do (Qualifier).
package address

import "strings"

// Quote is qmail's quote2: the null address stays empty; otherwise the
// part before the last "@" (the whole address if there is none) is quoted if
// needed and the rest is appended unchanged.
func Quote(addr string) string {
	if addr == "" {
		return ""
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return quoteLocal(addr)
	}
	return quoteLocal(addr[:at]) + addr[at:]
}

// quoteLocal is qmail's quote: a local part is sent as is only when it is
// non-empty, every byte is ASCII and one of letters, digits and
// !#$%&'*+-/=?^_`{|}~. , and no dot leads, trails or doubles. Otherwise it
// is wrapped in double quotes with `"`, `\`, CR and LF backslash-escaped.
func quoteLocal(s string) string {
	if !needsQuote(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\r', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func needsQuote(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if !atomChar(s[i]) {
			return true
		}
	}
	return false
}

func atomChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
}
