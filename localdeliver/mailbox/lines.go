package mailbox

import (
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/address"
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
// it needs it (see address.Quote); the null sender gives "Return-Path: <>".
// Newlines left after quoting are turned into "_".
func RPLine(sender string) string {
	return "Return-Path: <" + strings.ReplaceAll(address.Quote(sender), "\n", "_") + ">\n"
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
