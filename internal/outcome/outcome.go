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
