package outcome

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

func TestSystemTextIsTheSystemErrorAlone(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "open", Path: "./Mailbox", Err: syscall.EACCES}, "permission denied"},
		{&os.LinkError{Op: "link", Old: "a", New: "b", Err: syscall.EEXIST}, "file exists"},
		{syscall.ENOSPC, "no space left on device"},
		{errors.New("odd"), "odd"},
	}
	for _, tt := range tests {
		if got := SystemText(tt.err); got != tt.want {
			t.Errorf("SystemText(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestTemporaryErrnoIsQmailsErrorTemp(t *testing.T) {
	for _, e := range []syscall.Errno{syscall.EAGAIN, syscall.ENOSPC, syscall.EIO, syscall.EDQUOT} {
		if !TemporaryErrno(e) {
			t.Errorf("%v is not temporary", e)
		}
	}
	for _, e := range []syscall.Errno{syscall.ENOENT, syscall.EACCES, syscall.EISDIR} {
		if TemporaryErrno(e) {
			t.Errorf("%v is temporary", e)
		}
	}
}
