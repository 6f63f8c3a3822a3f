package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InlineMax is the largest body kept in the queue database. A larger body
// is a file of its own in queue/bodies/ (see the package doc for why).
const InlineMax = 128 << 10

// DefaultInlineBudget bounds the bytes held in memory by every Spool of
// one DB together. A spool that finds no room in it goes to a file at once,
// so the budget never makes a writer wait.
const DefaultInlineBudget = 64 << 20

// Spool receives a message's bytes as they arrive, in memory while the
// message is small, in a file under queue/bodies/ once it is larger than
// InlineMax or the DB's in-memory budget has no room. So what one message
// being received costs in memory is bounded, whatever its size. A Spool is
// used by one goroutine; it is handed to Accept in a NewMessage, which
// takes it over, or thrown away with Discard.
type Spool struct {
	db   *DB
	buf  []byte
	held int64 // bytes of db's budget this spool holds

	file *os.File
	w    *bufio.Writer
	size int64
	err  error
	done bool
}

// NewSpool returns an empty spool.
func (db *DB) NewSpool() *Spool { return &Spool{db: db} }

// Write adds p to the message. After an error (a full disk) every later
// Write fails with it, and Accept refuses the message.
func (s *Spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, errors.New("spool was already accepted or discarded")
	}
	s.size += int64(len(p))
	if s.file == nil {
		if len(s.buf)+len(p) <= InlineMax && s.db.budget.take(int64(len(p))) {
			s.held += int64(len(p))
			s.buf = append(s.buf, p...)
			return len(p), nil
		}
		if err := s.spill(); err != nil {
			s.err = err
			return 0, err
		}
	}
	if _, err := s.w.Write(p); err != nil {
		s.err = fmt.Errorf("writing %s: %w", s.file.Name(), err)
		return 0, s.err
	}
	return len(p), nil
}

// spill moves what the spool holds into a new file.
func (s *Spool) spill() error {
	f, err := os.CreateTemp(s.db.bodies, "b")
	if err != nil {
		return fmt.Errorf("making a body file: %w", err)
	}
	s.file = f
	s.w = bufio.NewWriterSize(f, 64<<10)
	_, err = s.w.Write(s.buf)
	s.release()
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return nil
}

func (s *Spool) release() {
	s.db.budget.give(s.held)
	s.held = 0
	s.buf = nil
}

// Size is the number of bytes written so far.
func (s *Spool) Size() int64 { return s.size }

// Reader returns the bytes written so far, from the first, for a filter
// to read before the message is accepted. The spool must not be written
// to while it is read.
func (s *Spool) Reader() (io.ReadCloser, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.file == nil {
		return io.NopCloser(bytes.NewReader(s.buf)), nil
	}
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", s.file.Name(), err)
	}
	f, err := os.Open(s.file.Name())
	if err != nil {
		return nil, fmt.Errorf("reading back %s: %w", s.file.Name(), err)
	}
	return f, nil
}

// Discard throws the message away. It may be called after Accept, when it
// does nothing.
func (s *Spool) Discard() {
	if s.done {
		return
	}
	s.done = true
	s.release()
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}

// prepare makes the spool's file durable before the transaction that
// names it: its data and its directory entry are on disk, so a committed
// message never points at a body a crash could lose.
func (s *Spool) prepare() error {
	if s.err != nil {
		return s.err
	}
	if s.done {
		return errors.New("spool was already accepted or discarded")
	}
	if s.file == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", s.file.Name(), err)
	}
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", s.file.Name(), err)
	}
	return syncDir(s.db.bodies)
}

// inline returns the body when it is held in memory.
func (s *Spool) inline() ([]byte, bool) {
	if s.file != nil {
		return nil, false
	}
	if s.buf == nil {
		return []byte{}, true
	}
	return s.buf, true
}

// fileName is the body file's name under queue/bodies/.
func (s *Spool) fileName() string { return filepath.Base(s.file.Name()) }

// accepted ends the spool after its message was committed: memory goes
// back to the budget and the file is closed, kept for the queue.
func (s *Spool) accepted() {
	s.done = true
	s.release()
	if s.file != nil {
		s.file.Close()
	}
}
