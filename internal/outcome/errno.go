package outcome

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// SystemText is the <error> of qmail's "Unable to ...: <error>." texts:
// the system's words alone, without Go's "open <path>: " prefix.
func SystemText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}

// TemporaryErrno is qmail's error_temp: the system errors that say "try
// again later" rather than "this is wrong".
func TemporaryErrno(errno syscall.Errno) bool {
	switch errno {
	case syscall.EINTR, syscall.ENOMEM, syscall.ETXTBSY, syscall.EIO,
		syscall.ETIMEDOUT, syscall.EAGAIN, syscall.EDEADLK, syscall.EBUSY,
		syscall.ENFILE, syscall.EMFILE, syscall.EFBIG, syscall.ENOSPC,
		syscall.ENETDOWN, syscall.ENETUNREACH, syscall.ENETRESET,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ENOBUFS,
		syscall.ETOOMANYREFS, syscall.ECONNREFUSED, syscall.EHOSTDOWN,
		syscall.EHOSTUNREACH, syscall.EUSERS, syscall.EDQUOT,
		syscall.ESTALE, syscall.ENOLCK:
		return true
	}
	return false
}
