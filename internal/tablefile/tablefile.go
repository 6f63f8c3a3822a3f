// Package tablefile writes the read-mostly bbolt tables gqmail keeps under
// users/ (assign.db, passwd.db, aliases.db) the one way they are ever
// written: a complete new file beside the old one, filled in one
// transaction, closed (which fsyncs it), renamed over the old name, and
// the directory fsync'd. A reader therefore opens the old table or the new
// one, never a mixture, and after Replace returns the new one survives a
// crash.
//
// Reader reads such a table and follows its replacements, and PutSchema
// and CheckSchema write and check the schema version record every one
// of these tables keeps.
//
// It never changes a table in place, never takes a lock (callers that can
// race take their own), and leaves nothing behind on error: the temporary
// file is removed and the old table is untouched.
package tablefile

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options says how the new file is made. The zero value is mode 0644,
// owned by whoever runs Replace.
type Options struct {
	// Mode is the new file's permission bits; 0644 when zero.
	Mode os.FileMode
	// Chown, when set, gives the new file this uid and gid before it is
	// filled (only root may).
	Chown    bool
	UID, GID int
	// SizeHint is about how large the file will be, when the caller
	// knows: bbolt then maps that much at once, instead of growing the
	// map (and copying every node it holds) as the file grows.
	SizeHint int
}

// Replace writes a new table at path: fill runs in the one read-write
// transaction of a new bbolt file made beside path, and if it and the
// close succeed the file is renamed over path and the directory fsync'd.
//
// Every error is an *Error saying which step failed and which file it
// concerns, so that each caller can word it as its own.
func Replace(path string, opts Options, fill func(*bolt.Tx) error) error {
	dir := filepath.Dir(path)
	mode := opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new*")
	if err != nil {
		return &Error{Op: OpCreate, Name: path, Err: err}
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful rename there is nothing to remove
	err = tmp.Chmod(mode)
	if err == nil && opts.Chown {
		err = tmp.Chown(opts.UID, opts.GID)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &Error{Op: OpCreate, Name: path, Err: err}
	}
	db, err := bolt.Open(tmpName, mode, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, InitialMmapSize: opts.SizeHint})
	if err != nil {
		return &Error{Op: OpFill, Name: tmpName, Err: err}
	}
	err = db.Update(fill)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &Error{Op: OpFill, Name: tmpName, Err: err}
	}
	if err := os.Rename(tmpName, path); err != nil {
		return &Error{Op: OpRename, Name: path, Err: err}
	}
	if err := SyncDir(dir); err != nil {
		return &Error{Op: OpSync, Name: dir, Err: err}
	}
	return nil
}

// Op is the step of Replace that failed.
type Op int

const (
	// OpCreate is making the temporary file and setting its mode and
	// owner; Name is the table's path.
	OpCreate Op = iota
	// OpFill is opening and filling it as a bbolt file, and closing it;
	// Name is the temporary file.
	OpFill
	// OpRename is renaming it over the table; Name is the table's path.
	OpRename
	// OpSync is the directory's fsync; Name is the directory, and Err
	// SyncDir's error, which names it already.
	OpSync
)

// Error is a failure of Replace. The table at the path is unchanged,
// except after OpSync, when the new table is in place but may not
// survive a crash.
type Error struct {
	Op   Op
	Name string
	Err  error
}

func (e *Error) Error() string {
	if e.Op == OpSync {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// SyncDir fsyncs the directory dir, so that a rename in it is on disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to fsync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
