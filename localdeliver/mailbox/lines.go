package mailbox

import (
	"strings"
	"time"
)

// Envelope is what the writers need to know about one delivery.
type Envelope struct {
	Sender    string    // envelope sender ("" for the null sender)
	Recipient string    // local@domain, for the Delivered-To line
	Time      time.Time // delivery time, for the mbox From_ line; zero means now
}

// DTLine returns qmail's DTLINE: "Delivered-To: <recipient>\n", with every
// newline in the address turned into "_".
func DTLine(recipient string) string {
	return "Delivered-To: " + strings.ReplaceAll(recipient, "\n", "_") + "\n"
}

// RPLine returns qmail's RPLINE: "Return-Path: <sender>\n". The local part of
// the sender (the part before its last "@") is quoted by RFC 821 rules when
// it needs it (see quoteLocal); the null sender gives "Return-Path: <>".
// Newlines left after quoting are turned into "_".
func RPLine(sender string) string {
	return "Return-Path: <" + strings.ReplaceAll(quoteAddr(sender), "\n", "_") + ">\n"
}

// UFLine returns qmail's UFLINE, the mbox "From " line: "From ", the sender
// with every space, tab and newline turned into "-" (MAILER-DAEMON for the
// null sender), a space, and t in UTC as "Mon Jan 02 15:04:05 2006" (the day
// zero-padded, unlike asctime), then "\n".
func UFLine(sender string, t time.Time) string {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	// Byte by byte, as qmail does: the sender need not be UTF-8.
	b := []byte(sender)
	for i, c := range b {
		if c == ' ' || c == '\t' || c == '\n' {
			b[i] = '-'
		}
	}
	return "From " + string(b) + " " + t.UTC().Format("Mon Jan 02 15:04:05 2006") + "\n"
}

// quoteAddr is qmail's quote2: the null address stays empty; otherwise the
// part before the last "@" (the whole address if there is none) is quoted if
// needed and the rest is appended unchanged.
func quoteAddr(addr string) string {
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
