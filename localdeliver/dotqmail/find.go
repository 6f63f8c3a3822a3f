package dotqmail

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/gqmail/gqmail/internal/outcome"
)

// FS is what lookups need from the file system, so that tests can use a fake
// and the delivery child the real one (OS). Names are relative to the home.
// Any fs.StatFS satisfies it.
type FS interface {
	Open(name string) (fs.File, error)
	Stat(name string) (fs.FileInfo, error)
}

// OS is the real file system, relative names resolved against the working
// directory (the home, in the delivery child).
type OS struct{}

// Open opens name for reading. O_NONBLOCK is qmail's open_read: opening a
// FIFO must not wait for a writer.
func (OS) Open(name string) (fs.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // not f: a nil *os.File in an fs.File is not nil
	}
	return f, nil
}

// Stat is os.Stat: symbolic links are followed, as qmail's stat does.
func (OS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// Target says which file qmail-local reads for one delivery.
type Target struct {
	Name        string // file name relative to the home, e.g. ".qmail-foo-default"; "" if none was found
	Default     string // value of $DEFAULT when HasDefault; "" otherwise
	HasDefault  bool   // a "default" name was chosen, so DEFAULT is set
	ForwardOnly bool   // the owner-execute bit is set on the file
	Contents    []byte // the file's contents; nil when none was found, non-nil (maybe empty) otherwise
}

// Find performs qmail-local's lookup for dash and ext (see the package doc
// for the order). It returns the first file that exists, with its contents.
// When none exists it returns Target{} and a nil error: the caller then
// fails with NoMailbox if dash is not empty, and otherwise uses the default
// delivery. Errors are temporary *outcome.Error values: a name that could
// not be opened for a reason other than its absence, a writable file, or a
// failure reading it.
func Find(fsys FS, dash, ext string) (Target, error) {
	safe := safeExt(ext)
	base := ".qmail" + dash
	t, err := tryOpen(fsys, base+safe)
	if err != nil || t.Name != "" {
		if t.Name != "" && strings.HasSuffix(safe, "default") {
			// safeext and ext have the same length, byte for byte.
			t.HasDefault, t.Default = true, ext[len(safe)-len("default"):]
		}
		return t, err
	}
	for i := len(safe); i >= 0; i-- {
		if i > 0 && safe[i-1] != '-' {
			continue
		}
		t, err := tryOpen(fsys, base+safe[:i]+"default")
		if err != nil || t.Name != "" {
			if t.Name != "" {
				t.HasDefault, t.Default = true, ext[i:]
			}
			return t, err
		}
	}
	return Target{}, nil
}

// NoMailbox is the permanent failure for an extension address with no
// .qmail file.
func NoMailbox() *outcome.Error {
	return outcome.Permanent("Sorry, no mailbox here by that name. (#5.1.1)")
}

// safeExt is qmail's safeext: ASCII letters lowercased, "." turned into ":".
func safeExt(ext string) string {
	b := []byte(ext)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c == '.':
			b[i] = ':'
		}
	}
	return string(b)
}

// tryOpen is qmail's qmeexists: Target{} with a nil error when name does not
// exist, the filled-in Target when it does.
func tryOpen(fsys FS, name string) (Target, error) {
	if strings.Contains(name, "/") {
		return Target{}, nil
	}
	f, err := fsys.Open(name)
	if err != nil {
		if openAbsent(err) {
			return Target{}, nil
		}
		return Target{}, unableToOpen(name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Target{}, unableToOpen(name, err)
	}
	if !fi.Mode().IsRegular() {
		return Target{}, nil
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return Target{}, outcome.TemporaryErr(fmt.Errorf("%s has mode %04o", name, perm),
			"Uh-oh: .qmail file is writable. (#4.7.0)")
	}
	contents, err := io.ReadAll(f)
	if err != nil {
		return Target{}, outcome.TemporaryErr(err, "Unable to read %s: %s. (#4.3.0)", name, outcome.SystemText(err))
	}
	if contents == nil {
		contents = []byte{}
	}
	return Target{Name: name, ForwardOnly: perm&0o100 != 0, Contents: contents}, nil
}

// openAbsent reports whether an open error means "no such file" to
// qmail-local: anything but EACCES, EPERM and the temporary errors. An error
// that carries no errno counts as absent only when it says so.
func openAbsent(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno != syscall.EACCES && errno != syscall.EPERM && !outcome.TemporaryErrno(errno)
	}
	return errors.Is(err, fs.ErrNotExist)
}

// statAbsent is the same for qmail's qmeox, which fails only on temporary
// errors: a permission error on stat means "no such file".
func statAbsent(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return !outcome.TemporaryErrno(errno)
	}
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

func unableToOpen(name string, err error) *outcome.Error {
	return outcome.TemporaryErr(err, "Unable to open %s: %s. (#4.3.0)", name, outcome.SystemText(err))
}
