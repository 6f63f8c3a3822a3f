package mailbox

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/gqmail/gqmail/internal/outcome"
)

// FS is the handful of file system operations the writers use. OS is the
// real one; tests substitute one that fails a write, fsync or link on
// demand. Names are as the writers build them: relative to the working
// directory or absolute.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Lstat(name string) (fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
	Link(oldname, newname string) error
	Remove(name string) error
}

// File is an open file as the writers use it. *os.File satisfies it. Fd is
// used only for flock.
type File interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
	Fd() uintptr
}

// OS is the FS of the running system.
type OS struct{}

// OpenFile is os.OpenFile.
func (OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil *os.File inside the interface
	}
	return f, nil
}

// Lstat is os.Lstat.
func (OS) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }

// Stat is os.Stat.
func (OS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// Link is os.Link.
func (OS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

// Remove is os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

func orOS(fsys FS) FS {
	if fsys == nil {
		return OS{}
	}
	return fsys
}

// syncDir makes the entries of directory dir durable.
func syncDir(fsys FS, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// owner returns the uid that owns the file described by fi.
func owner(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// ownedByMe reports whether fi is owned by the current euid.
func ownedByMe(fi fs.FileInfo) bool {
	uid, ok := owner(fi)
	return ok && int64(uid) == int64(os.Geteuid())
}

// linkTrusted reports whether the symbolic link fi may be followed at all:
// only a link made by the user or by root. A link someone else planted (in a
// shared spool directory, say) could point at one of the user's own files,
// which the target check alone would accept.
func linkTrusted(fi fs.FileInfo) bool {
	uid, ok := owner(fi)
	return ok && (uid == 0 || int64(uid) == int64(os.Geteuid()))
}

// symlinkRefusal is the failure for a symbolic link this package will not
// follow; what is "a file" or "a directory".
func symlinkRefusal(path string, linkOK bool, what string) *outcome.Error {
	if !linkOK {
		return outcome.Temporary("Unable to open %s: it is a symbolic link owned by someone else. (#4.7.0)", path)
	}
	return outcome.Temporary("Unable to open %s: it is a symbolic link to %s owned by someone else. (#4.7.0)", path, what)
}

// isTemp is qmail's error_temp: errors that say "try again later" rather
// than "this is wrong". Only the report text depends on it here; every
// failure of this package is temporary anyway.
func isTemp(err error) bool {
	var errno syscall.Errno
	return !errors.As(err, &errno) || outcome.TemporaryErrno(errno)
}
