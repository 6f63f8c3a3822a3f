package mailbox

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
)

// scratch returns a new directory that is removed after the test, unless
// the test failed: then it is kept and its path printed.

// faultFS is the real file system with failures injected on demand.
type faultFS struct {
	OS

	mu sync.Mutex
	// writeErr, when set, fails file writes once writeBudget bytes have
	// been written (a write that crosses the budget is partial).
	writeErr    error
	writeBudget int
	syncErr     error // fsync of a regular file
	dirSyncErr  error // fsync of a directory
	linkErr     error
	// existFor answers this many O_EXCL creates with EEXIST.
	existFor int
	// badFd makes files give a descriptor that flock refuses (EBADF), so
	// a delivery goes on without the lock.
	badFd bool
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f.mu.Lock()
	if flag&os.O_EXCL != 0 && f.existFor > 0 {
		f.existFor--
		f.mu.Unlock()
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EEXIST}
	}
	f.mu.Unlock()
	file, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, dir: flag&syscall.O_DIRECTORY != 0}, nil
}

func (f *faultFS) Link(oldname, newname string) error {
	if f.linkErr != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: f.linkErr}
	}
	return os.Link(oldname, newname)
}

type faultFile struct {
	*os.File
	fs  *faultFS
	dir bool
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.writeErr == nil {
		return f.File.Write(p)
	}
	if len(p) <= f.fs.writeBudget {
		f.fs.writeBudget -= len(p)
		return f.File.Write(p)
	}
	n, err := f.File.Write(p[:f.fs.writeBudget])
	f.fs.writeBudget -= n
	if err != nil {
		return n, err
	}
	return n, f.fs.writeErr
}

func (f *faultFile) Fd() uintptr {
	if f.fs.badFd {
		return ^uintptr(0) // -1 as an int
	}
	return f.File.Fd()
}

func (f *faultFile) Sync() error {
	if f.dir && f.fs.dirSyncErr != nil {
		return f.fs.dirSyncErr
	}
	if !f.dir && f.fs.syncErr != nil {
		return f.fs.syncErr
	}
	return f.File.Sync()
}

// wantFailure checks that err is a temporary *outcome.Error with text want.
func wantFailure(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want failure %q", want)
	}
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		t.Fatalf("got %T %v, want *outcome.Error", err, err)
	}
	if oe.Permanent {
		t.Errorf("failure %q is permanent, want temporary", oe.Text)
	}
	if oe.Text != want {
		t.Errorf("failure text\n got %q\nwant %q", oe.Text, want)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid (chown); run the tests as root to cover this")
	}
}
