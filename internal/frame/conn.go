package frame

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

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
type Conn struct {
	c *net.UnixConn
	r *bufio.Reader
	// fdr is what r reads from; it keeps the descriptors that arrived.
	fdr *fdReader

	wmu sync.Mutex
	w   *bufio.Writer
}

// NewConn wraps c.
func NewConn(c *net.UnixConn) *Conn {
	fdr := &fdReader{c: c}
	return &Conn{c: c, fdr: fdr, r: bufio.NewReaderSize(fdr, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// FileConn makes a Conn of an open socket descriptor, such as one inherited
// at start. f is closed; the Conn holds its own close-on-exec copy.
func FileConn(f *os.File) (*Conn, error) {
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", f.Fd(), err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("descriptor %d is not a Unix socket", f.Fd())
	}
	return NewConn(uc), nil
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
	if _, _, err := c.c.WriteMsgUnix(hdr[:], unix.UnixRights(int(fd.Fd())), nil); err != nil {
		return fmt.Errorf("sending a descriptor: %w", err)
	}
	return writeFields(c.w, fields)
}

// Close closes the socket and every descriptor no frame claimed.
func (c *Conn) Close() error {
	c.fdr.closeQueued()
	return c.c.Close()
}

// CloseRead shuts the reading half, so that a Read blocked in another
// goroutine returns.
func (c *Conn) CloseRead() error { return c.c.CloseRead() }

// fdReader reads a Unix socket's bytes and keeps the descriptors that
// arrive with them, in order.
type fdReader struct {
	c   *net.UnixConn
	oob [256]byte

	mu  sync.Mutex
	fds []*os.File
	err error
}

func (r *fdReader) Read(p []byte) (int, error) {
	n, oobn, flags, _, err := r.c.ReadMsgUnix(p, r.oob[:])
	if n < 0 {
		n = 0
	}
	if oobn > 0 {
		r.keep(r.oob[:oobn], flags)
	}
	if errors.Is(err, io.EOF) {
		// net wraps it; io.ReadFull and callers want the bare io.EOF.
		err = io.EOF
	}
	return n, err
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
