package localdeliver

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// message is what a child delivers: the bytes it was sent in the job's
// frame and, for a queued body file, the file's contents after them (the
// engine sends one or the other). The child reads the file in place,
// through pread, so that a message is never held whole in memory and the
// descriptor's offset, shared with whoever opened it, does not matter.
type message struct {
	head     []byte
	rest     *os.File
	restSize int64
}

// newMessage checks that rest, if any, is a regular file and takes its
// size.
func newMessage(head []byte, rest *os.File) (*message, error) {
	m := &message{head: head, rest: rest}
	if rest == nil {
		return m, nil
	}
	fi, err := rest.Stat()
	if err != nil {
		return nil, fmt.Errorf("the message's descriptor: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("the message's descriptor is a %v, not a file", fi.Mode().Type())
	}
	m.restSize = fi.Size()
	return m, nil
}

// reader returns a new reader of the whole message.
func (m *message) reader() io.Reader {
	if m.rest == nil {
		return bytes.NewReader(m.head)
	}
	return io.MultiReader(bytes.NewReader(m.head), io.NewSectionReader(m.rest, 0, m.restSize))
}

// stdin returns a read-only descriptor holding the message, at its start,
// for a program, as qmail-local hands a program the queued message file.
// The caller closes it when done is true.
func (m *message) stdin() (f *os.File, done bool, err error) {
	if m.rest != nil && len(m.head) == 0 {
		if _, err := m.rest.Seek(0, io.SeekStart); err != nil {
			return nil, false, err
		}
		return m.rest, false, nil
	}
	f, err = memFile(m.reader())
	return f, err == nil, err
}
