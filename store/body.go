package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// Body is a queued message opened for reading: bytes copied out of the
// database, or an open body file. Readers made from it are independent of
// each other; the file's offset is never used.
type Body struct {
	inline []byte
	file   *os.File
	size   int64
}

// NewBody is a Body over bytes already in memory, for tests and for
// callers that build a message themselves.
func NewBody(b []byte) *Body { return &Body{inline: b, size: int64(len(b))} }

// Size is the message's length in bytes.
func (b *Body) Size() int64 { return b.size }

// Inline returns the message when it is in memory, and false when it is
// a file.
func (b *Body) Inline() ([]byte, bool) { return b.inline, b.file == nil }

// File returns the open body file, or nil when the body is in memory.
func (b *Body) File() *os.File { return b.file }

// Reader returns a new reader of the whole message.
func (b *Body) Reader() io.Reader {
	if b.file == nil {
		return bytes.NewReader(b.inline)
	}
	return io.NewSectionReader(b.file, 0, b.size)
}

// Head returns the first n bytes of the message, or all of it when it is
// shorter.
func (b *Body) Head(n int) ([]byte, error) {
	if b.file == nil {
		return b.inline[:min(n, len(b.inline))], nil
	}
	buf := make([]byte, min(int64(n), b.size))
	k, err := b.file.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading %s: %w", b.file.Name(), err)
	}
	return buf[:k], nil
}

// Close closes the body file, if any.
func (b *Body) Close() error {
	if b.file == nil {
		return nil
	}
	return b.file.Close()
}

// openBodyFile opens a body file by the name its envelope records. The
// name is checked to be a plain name made by Spool: a damaged record never
// makes the daemon open a file outside queue/bodies/.
func (db *DB) openBodyFile(name string) (*os.File, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("body file name %q is not one the queue makes", name)
	}
	f, err := os.OpenFile(filepath.Join(db.bodies, name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("body file: %w", err)
	}
	return f, nil
}

// RemoveOrphanBodies removes every file in queue/bodies/ that no queued
// message names: the body of a message whose client went away, or of one
// whose removal a crash interrupted before the file was unlinked. It must
// run before anything makes a new Spool (the daemon calls it at start),
// since a spool's file is named by no message until it is accepted. It
// returns how many files it removed.
func (db *DB) RemoveOrphanBodies() (int, error) {
	named := map[string]bool{}
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMsgs).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil
			}
			env, err := decodeEnvelope(MsgID(beUint64(k)), v)
			if err != nil {
				return err
			}
			if env.BodyFile != "" {
				named[env.BodyFile] = true
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(db.bodies)
	if err != nil {
		return 0, fmt.Errorf("queue body directory: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if named[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(db.bodies, e.Name())); err != nil {
			return removed, fmt.Errorf("removing an orphan body: %w", err)
		}
		removed++
	}
	return removed, nil
}
