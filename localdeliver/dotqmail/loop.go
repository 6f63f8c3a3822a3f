package dotqmail

import (
	"bufio"
	"io"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
)

// IsLoop reports whether the header of msg (LF line ends; the header is the
// lines before the first empty line) holds a line byte-identical to
// "Delivered-To: " + recipient, with any newline in recipient turned into
// "_" as in DTLINE. As in qmail, a last line without its "\n" is not looked
// at, and "Delivered-To: x\r" does not match "Delivered-To: x". It reads
// the header in pieces: a line longer than the one it looks for is passed
// over, never held.
func IsLoop(msg io.Reader, recipient string) (bool, error) {
	dt := mailbox.DTLine(recipient)
	r := bufio.NewReaderSize(msg, max(len(dt)+1, 4096))
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			// Longer than dt: skip to its end.
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return false, eofIsNoLoop(err)
			}
			continue
		case err != nil:
			return false, eofIsNoLoop(err)
		}
		if len(line) == 1 { // the empty line
			return false, nil
		}
		if string(line) == dt {
			return true, nil
		}
	}
}

func eofIsNoLoop(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// Loop is the permanent failure for a message that IsLoop reports.
func Loop() *outcome.Error {
	return outcome.Permanent("This message is looping: it already has my Delivered-To line. (#5.4.6)")
}
