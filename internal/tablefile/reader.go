package tablefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reader reads the table at one path, as replaced by Replace. It is safe
// for concurrent use. Every View checks whether the file was replaced
// (another inode or mtime) and, if so, opens the new one; views under way
// finish on the old file, which is closed after the last of them. A
// missing file is an empty table, not an error.
type Reader struct {
	path  string
	check func(*bolt.Tx) error

	mu  sync.Mutex
	cur *handle
}

type handle struct {
	db    *bolt.DB
	ino   uint64
	mtime time.Time
	users sync.WaitGroup
}

// NewReader returns a Reader of path. check runs once on each file
// opened, and refuses it (with its error) when it is not the table the
// caller expects: another kind of file, another schema.
func NewReader(path string, check func(*bolt.Tx) error) *Reader {
	return &Reader{path: path, check: check}
}

// Path returns the table file's path.
func (r *Reader) Path() string { return r.path }

// View runs fn in a read transaction on the table now at the path. With
// no file there it returns false and does not call fn. Errors opening
// the file name it; fn's are returned as they are.
func (r *Reader) View(fn func(*bolt.Tx) error) (bool, error) {
	h, err := r.acquire()
	if err != nil || h == nil {
		return false, err
	}
	defer h.users.Done()
	return true, h.db.View(fn)
}

// Close closes the open file, if any, once views under way are done.
func (r *Reader) Close() error {
	r.mu.Lock()
	old := r.cur
	r.cur = nil
	r.mu.Unlock()
	return retire(old)
}

func retire(h *handle) error {
	if h == nil {
		return nil
	}
	h.users.Wait()
	return h.db.Close()
}

func (r *Reader) acquire() (*handle, error) {
	fi, statErr := os.Stat(r.path)
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return nil, statErr
	}
	r.mu.Lock()
	var old *handle
	defer func() { retire(old) }() // runs after the unlock below
	defer r.mu.Unlock()
	switch {
	case statErr != nil:
		old, r.cur = r.cur, nil
		return nil, nil
	case r.cur == nil || r.cur.ino != fi.Sys().(*syscall.Stat_t).Ino || !r.cur.mtime.Equal(fi.ModTime()):
		db, err := r.open()
		if err != nil {
			return nil, err
		}
		old = r.cur
		r.cur = &handle{db: db, ino: fi.Sys().(*syscall.Stat_t).Ino, mtime: fi.ModTime()}
	}
	r.cur.users.Add(1)
	return r.cur, nil
}

func (r *Reader) open() (*bolt.DB, error) {
	db, err := bolt.Open(r.path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	if r.check != nil {
		if err := db.View(r.check); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", r.path, err)
		}
	}
	return db, nil
}
