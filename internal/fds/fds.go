// Package fds owns what a gqmail process does with the descriptors it
// inherited: at start it closes every one it does not own, and marks the
// ones it keeps close-on-exec, so that nothing it starts (a delivery child,
// a user's program) inherits a descriptor its contract does not name.
//
// # Why at start
//
// Go opens its own descriptors close-on-exec, and os/exec hands a child
// exactly its standard descriptors and ExtraFiles. What it cannot see is a
// descriptor that arrived through exec without FD_CLOEXEC: the helper's
// socket to the daemon on fd 3, or whatever the shell or supervisor that
// started qmaild left open. exec passes those on to every descendant. A
// descriptor that lacks FD_CLOEXEC when main starts was inherited (the
// runtime's own, such as its epoll descriptor, are close-on-exec), so
// Sanitize closes exactly those, except the ones the caller keeps, and then
// marks every descriptor from 3 up close-on-exec as a second line of
// defence where /proc cannot be read.
package fds

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Sanitize closes every inherited descriptor above 2 that is not in keep,
// and makes the kept ones close-on-exec. Call it first thing in main, before
// anything opens a descriptor without FD_CLOEXEC.
func Sanitize(keep ...int) error {
	entries, procErr := os.ReadDir("/proc/self/fd")
	if procErr == nil {
		for _, e := range entries {
			fd, err := strconv.Atoi(e.Name())
			if err != nil || fd <= 2 || slices.Contains(keep, fd) {
				continue
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil {
				// The directory's own descriptor, closed by now.
				continue
			}
			if flags&unix.FD_CLOEXEC == 0 {
				unix.Close(fd)
			}
		}
	}
	// Whatever is left from 3 up, kept or not seen, is close-on-exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		if procErr != nil {
			return fmt.Errorf("cannot close inherited descriptors: reading /proc/self/fd: %v; close_range: %w", procErr, err)
		}
		for _, fd := range keep {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
				return fmt.Errorf("marking descriptor %d close-on-exec: %w", fd, err)
			}
		}
	}
	return nil
}
