// Package outcome carries "temporary or permanent" inside an error value, so
// every layer from the delivery child up to the SMTP reply can ask instead of
// guessing.
//
// The contract is qmail's: a temporary failure (qmail-local exit 111, an SMTP
// 4xx reply, a full disk, a crashed child) leaves the work to be retried; a
// permanent failure (exit 100, an SMTP 5xx reply) ends it and, for a
// delivery, produces a bounce. An error that does not say which it is counts
// as temporary, because retrying a delivery that was really permanent costs
// only time, while bouncing one that was temporary loses mail.
//
// The Text of an error is what qmail would print: a sentence meant for the
// log and the bounce, such as "Unable to open ./Mailbox: permission denied.
// (#4.2.1)".
//
// # The result of a delivery
//
// Every deliverer (the local delivery child, remote delivery) and every
// layer above it says how an attempt went the same way: a report, and an
// error.
//
//   - A nil error: delivered. The report is the success text ("did
//     1+0+0", "192.0.2.1 accepted message./Remote host said: 250 ok").
//   - A permanent *Error: failed; the recipient is bounced with its Text.
//   - Any other error: deferred; the recipient is tried again, and its
//     Text (or Error()) is kept as the last report.
//
// Of gives the Class; the queue records it. Between processes the class
// travels as qmail-lspawn and qmail-queue write it, one letter: K, Z or D.
// Letter and FromLetter are the only places that know the letters.
package outcome

import (
	"errors"
	"fmt"
)

// Error is a failure with its class and its qmail-style report text.
type Error struct {
	Permanent bool
	Text      string
	// Err is the underlying cause, if any, for errors.Is and errors.As.
	Err error
}

func (e *Error) Error() string { return e.Text }

func (e *Error) Unwrap() error { return e.Err }

// Temporary returns a temporary failure with the given report text.
func Temporary(format string, args ...any) *Error {
	return &Error{Text: fmt.Sprintf(format, args...)}
}

// Permanent returns a permanent failure with the given report text.
func Permanent(format string, args ...any) *Error {
	return &Error{Permanent: true, Text: fmt.Sprintf(format, args...)}
}

// TemporaryErr returns a temporary failure that wraps cause.
func TemporaryErr(cause error, format string, args ...any) *Error {
	return &Error{Text: fmt.Sprintf(format, args...), Err: cause}
}

// PermanentErr returns a permanent failure that wraps cause.
func PermanentErr(cause error, format string, args ...any) *Error {
	return &Error{Permanent: true, Text: fmt.Sprintf(format, args...), Err: cause}
}

// IsPermanent reports whether err is, or wraps, a permanent *Error. Any other
// error, including nil, is not permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// Text returns the report text of err: the Text of the outermost *Error it
// wraps, or err.Error() for any other error.
func Text(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Text
	}
	return err.Error()
}

// Class is what became of an attempt, as the queue records it.
type Class uint8

const (
	Delivered Class = iota + 1
	Deferred
	Failed
)

// String is qmail-send's word for the class in its log.
func (c Class) String() string {
	switch c {
	case Delivered:
		return "success"
	case Deferred:
		return "deferral"
	case Failed:
		return "failure"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Of classifies an attempt by its error: nil is Delivered, a permanent
// *Error Failed, anything else Deferred.
func Of(err error) Class {
	switch {
	case err == nil:
		return Delivered
	case IsPermanent(err):
		return Failed
	}
	return Deferred
}

// Letter is the class of err as qmail writes it on its wires: K
// (delivered, or queued), Z (try again) or D (failed).
func Letter(err error) byte {
	switch Of(err) {
	case Delivered:
		return 'K'
	case Failed:
		return 'D'
	}
	return 'Z'
}

// FromLetter turns a letter and its text back into what Letter was given:
// nil for K, a temporary *Error for Z and a permanent one for D, each with
// text. ok is false for any other letter.
func FromLetter(letter byte, text string) (err error, ok bool) {
	switch letter {
	case 'K':
		return nil, true
	case 'Z':
		return &Error{Text: text}, true
	case 'D':
		return &Error{Permanent: true, Text: text}, true
	}
	return nil, false
}
