package dotqmail

import (
	"bytes"
	"strings"

	"github.com/gqmail/gqmail/internal/outcome"
)

// IsLoop reports whether the header of msg (LF line ends; the header is the
// lines before the first empty line) holds a line byte-identical to
// "Delivered-To: " + recipient, with any newline in recipient turned into
// "_" as in DTLINE. As in qmail, a last line without its "\n" is not looked
// at, and "Delivered-To: x\r" does not match "Delivered-To: x".
func IsLoop(msg []byte, recipient string) bool {
	dt := "Delivered-To: " + strings.ReplaceAll(recipient, "\n", "_") + "\n"
	for {
		nl := bytes.IndexByte(msg, '\n')
		if nl <= 0 { // no complete line left, or the empty line
			return false
		}
		if string(msg[:nl+1]) == dt {
			return true
		}
		msg = msg[nl+1:]
	}
}

// Loop is the permanent failure for a message that IsLoop reports.
func Loop() *outcome.Error {
	return outcome.Permanent("This message is looping: it already has my Delivered-To line. (#5.4.6)")
}
