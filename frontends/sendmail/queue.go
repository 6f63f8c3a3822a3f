package sendmail

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/gqmail/gqmail/internal/outcome"
)

// qmail-queue's exit codes (qmail-queue.8): what software written for
// qmail reads from it.
const (
	QueueOK            = 0
	QueueAddrTooLong   = 11 // an envelope address reached 1003 bytes without its NUL
	QueueRejected      = 31 // the mail server permanently rejected the message
	QueueOutOfMemory   = 51
	QueueTimeout       = 52
	QueueWriteError    = 53 // write error or disk full
	QueueReadError     = 54 // the message or the envelope ended early
	QueueConfigError   = 55 // unable to read the configuration
	QueueNetworkError  = 56 // trouble making a network connection
	QueueTempRejected  = 71 // the mail server temporarily rejected the message
	QueueInternalError = 81
	QueueBadEnvelope   = 91 // the envelope is not in qmail-queue's format
)

// maxEnvelopeAddress is where qmail-queue gives up on an address: one
// that reaches 1003 bytes without its NUL exits 11.
const maxEnvelopeAddress = 1003

// envelopeError is a broken envelope and the exit code it gets.
type envelopeError struct {
	code int
	text string
}

func (e *envelopeError) Error() string { return e.text }

// readEnvelope reads qmail-queue's envelope: "F" sender NUL, then "T"
// recipient NUL for each recipient, then one more NUL.
func readEnvelope(r io.Reader) (sender string, rcpts []string, err error) {
	br := bufio.NewReader(r)
	field := func() (byte, string, error) {
		kind, err := br.ReadByte()
		if err != nil {
			return 0, "", &envelopeError{QueueReadError, "the envelope ended early"}
		}
		if kind == 0 {
			return 0, "", nil
		}
		var b []byte
		for {
			c, err := br.ReadByte()
			if err != nil {
				return 0, "", &envelopeError{QueueReadError, "the envelope ended early"}
			}
			if c == 0 {
				return kind, string(b), nil
			}
			if len(b)+1 >= maxEnvelopeAddress {
				return 0, "", &envelopeError{QueueAddrTooLong, "envelope address too long for qq (#5.1.3)"}
			}
			b = append(b, c)
		}
	}
	kind, sender, err := field()
	if err != nil {
		return "", nil, err
	}
	if kind != 'F' {
		return "", nil, &envelopeError{QueueBadEnvelope, "the envelope does not start with F"}
	}
	for {
		kind, addr, err := field()
		if err != nil {
			return "", nil, err
		}
		switch kind {
		case 0:
			return sender, rcpts, nil
		case 'T':
			rcpts = append(rcpts, addr)
		default:
			return "", nil, &envelopeError{QueueBadEnvelope, "an envelope field is neither T nor the end"}
		}
	}
}

// exitCode is the envelope error's code, or fallback for any other
// error.
func exitCode(err error, fallback int) int {
	var e *envelopeError
	if errors.As(err, &e) {
		return e.code
	}
	return fallback
}

// QmailQueue is qmail-queue: it reads the message from descriptor 0 and
// the envelope from descriptor 1, queues the message, and exits with
// qmail-queue's code. On any error it queues nothing.
func QmailQueue(env *Env) int {
	ctx := context.Background()
	s, err := begin(ctx, env.paths())
	if err != nil {
		return QueueWriteError
	}
	if _, err := io.Copy(s, readErrors{env.Stdin}); err != nil {
		s.abort()
		if isReadError(err) {
			return QueueReadError
		}
		return QueueWriteError
	}
	sender, rcpts, err := readEnvelope(env.Envelope)
	if err != nil {
		s.abort()
		return exitCode(err, QueueReadError)
	}
	if len(rcpts) == 0 {
		// qmail-queue takes it, and qmail-send has nothing to do.
		s.abort()
		return QueueOK
	}
	if _, _, err := s.commit(sender, rcpts); err != nil {
		if outcome.IsPermanent(err) {
			return QueueRejected
		}
		return QueueWriteError
	}
	return QueueOK
}

// readError marks an error of the input, as opposed to the output.
type readError struct{ error }

func (e readError) Unwrap() error { return e.error }

func isReadError(err error) bool {
	var r readError
	return errors.As(err, &r)
}

// readErrors marks its reader's errors as read errors.
type readErrors struct{ r io.Reader }

func (r readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}
