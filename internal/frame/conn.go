package frame

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// withFD is set in a frame's length header when one descriptor travels
// with the frame. Frames are at most Max bytes, so the bit is free.
const withFD = 1 << 31

// maxQueuedFDs bounds the descriptors a Conn holds that no frame has
// claimed yet. Each frame claims at most one, and a peer that keeps
// sending descriptors without frames that claim them is broken or hostile.
const maxQueuedFDs = 64

// ErrDescriptors is returned by Conn.Read when the descriptors that
// arrived do not match the frames that claim them.
var ErrDescriptors = errors.New("descriptors do not match their frames")

// Conn speaks frames over a Unix stream socket, where a frame may carry one
// open descriptor (SCM_RIGHTS) along with its fields. The descriptor is
// sent with the frame's header, so it always arrives before the frame's
// last byte, and descriptors arrive in the order of the frames that carry
// them. Received descriptors are close-on-exec.
//
// Read may be called from one goroutine, Write from any number.
//
// It is built on the socket's *os.File and sendmsg/recvmsg through the
// runtime's poller rather than on package net, so that the commands that
// use this package (sendmail and friends) need no cgo and start fast.
type Conn struct {
	f  *os.File
	rc syscall.RawConn
	r  *bufio.Reader
	// fdr is what r reads from; it keeps the descriptors that arrived.
	fdr *fdReader

	wmu sync.Mutex
	w   *bufio.Writer
}

// FileConn makes a Conn of an open Unix stream socket descriptor, such as
// one inherited at start. f is closed; the Conn holds its own
// close-on-exec copy, in non-blocking mode for the runtime's poller.
func FileConn(f *os.File) (*Conn, error) {
	defer f.Close()
	// Never 0, 1 or 2, even when they are closed: the runtime treats
	// EPIPE on those as fatal.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", f.Fd(), err)
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		unix.Close(fd)
		return nil, fmt.Errorf("descriptor %d is not a Unix stream socket", f.Fd())
	}
	if sa, err := unix.Getsockname(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("descriptor %d: %w", f.Fd(), err)
	} else if _, ok := sa.(*unix.SockaddrUnix); !ok {
		unix.Close(fd)
		return nil, fmt.Errorf("descriptor %d is not a Unix socket", f.Fd())
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("descriptor %d: %w", f.Fd(), err)
	}
	return newConn(os.NewFile(uintptr(fd), f.Name()))
}

// newConn wraps a non-blocking socket file.
func newConn(f *os.File) (*Conn, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	fdr := &fdReader{rc: rc}
	return &Conn{f: f, rc: rc, fdr: fdr, r: bufio.NewReaderSize(fdr, 64<<10), w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Pair returns two connected Conns' sockets: one for this process and one,
// as a file, for a child to inherit.
func Pair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "frame-socket"), os.NewFile(uintptr(fds[1]), "frame-socket")
	c, err := FileConn(mine)
	if err != nil {
		theirs.Close()
		return nil, nil, err
	}
	return c, theirs, nil
}

// Read reads one frame. fd is the descriptor that came with it, or nil;
// the caller owns it. io.EOF means the peer closed between frames.
func (c *Conn) Read() (fields [][]byte, fd *os.File, err error) {
	return c.ReadLimit(Max)
}

// ReadLimit is Read with a smaller bound on the frame than Max.
func (c *Conn) ReadLimit(limit int) ([][]byte, *os.File, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	hasFD := n&withFD != 0
	n &^= withFD
	var fd *os.File
	if hasFD {
		if fd = c.fdr.take(); fd == nil {
			return nil, nil, fmt.Errorf("%w: a frame claims a descriptor and none arrived", ErrDescriptors)
		}
	}
	fields, err := readFields(c.r, n, limit)
	if err != nil {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, err
	}
	if c.fdr.err != nil {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, c.fdr.err
	}
	return fields, fd, nil
}

// Write writes one frame holding fields, with fd when it is not nil. fd
// stays open; the peer gets its own copy.
func (c *Conn) Write(fd *os.File, fields ...[]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := frameLen(fields)
	if err != nil {
		return err
	}
	if fd == nil {
		return writeFrame(c.w, n, fields)
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n)|withFD)
	if err := c.sendRights(hdr[:], int(fd.Fd())); err != nil {
		return fmt.Errorf("sending a descriptor: %w", err)
	}
	return writeFields(c.w, fields)
}

// sendRights sends hdr with the descriptor fd attached to its first byte,
// and the rest of hdr if the socket took only part of it.
func (c *Conn) sendRights(hdr []byte, fd int) error {
	var n int
	var serr error
	err := c.rc.Write(func(s uintptr) bool {
		n, serr = unix.SendmsgN(int(s), hdr, unix.UnixRights(fd), nil, 0)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if n < len(hdr) {
		_, err = c.f.Write(hdr[n:])
	}
	return err
}

// Close closes the socket and every descriptor no frame claimed.
func (c *Conn) Close() error {
	err := c.f.Close() // first: nothing arrives after it
	c.fdr.closeQueued()
	return err
}

// CloseRead shuts the reading half, so that a Read blocked in another
// goroutine returns.
func (c *Conn) CloseRead() error {
	var serr error
	if err := c.rc.Control(func(s uintptr) { serr = unix.Shutdown(int(s), unix.SHUT_RD) }); err != nil {
		return err
	}
	return serr
}

// fdReader reads a Unix socket's bytes and keeps the descriptors that
// arrive with them, in order.
type fdReader struct {
	rc  syscall.RawConn
	oob [256]byte

	mu  sync.Mutex
	fds []*os.File
	err error
}

func (r *fdReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n, oobn, flags int
	var rerr error
	err := r.rc.Read(func(s uintptr) bool {
		// Received descriptors are close-on-exec from the start.
		n, oobn, flags, _, rerr = unix.Recvmsg(int(s), p, r.oob[:], unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if n < 0 {
		n = 0
	}
	if oobn > 0 {
		r.keep(r.oob[:oobn], flags)
	}
	if err != nil {
		return n, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *fdReader) keep(oob []byte, flags int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		r.err = fmt.Errorf("%w: %v", ErrDescriptors, err)
		return
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(r.fds) >= maxQueuedFDs {
				unix.Close(fd)
				r.err = fmt.Errorf("%w: more than %d sent ahead of their frames", ErrDescriptors, maxQueuedFDs)
				continue
			}
			r.fds = append(r.fds, os.NewFile(uintptr(fd), "received"))
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		r.err = fmt.Errorf("%w: some were cut off in transit", ErrDescriptors)
	}
}

func (r *fdReader) take() *os.File {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) == 0 {
		return nil
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return fd
}

func (r *fdReader) closeQueued() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.fds {
		f.Close()
	}
	r.fds = nil
}
