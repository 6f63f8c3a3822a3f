package submission

import (
	"bufio"
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// Client submits messages to the daemon's socket. It keeps one connection
// and is not safe for concurrent use.
type Client struct {
	Path string
	// Kind is KindSMTP for qmaild smtpd relaying a message it received by
	// SMTP (the daemon believes it only of a trusted uid), else KindLocal
	// or empty.
	Kind string

	conn *os.File
	r    *bufio.Reader
	w    *bufio.Writer
}

// Submission is a message being sent to the daemon: its bytes go out in
// data frames as they are written, and Commit or Abort ends it.
type Submission struct {
	c   *Client
	buf []byte
	err error
}

// Begin starts a submission, connecting to the daemon if need be. Errors
// are temporary *outcome.Error.
func (c *Client) Begin(ctx context.Context) (*Submission, error) {
	if c.conn == nil {
		conn, r, w, err := dial(ctx, c.Path)
		if err != nil {
			return nil, err
		}
		c.conn, c.r, c.w = conn, r, w
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Now().Add(30 * time.Minute))
	}
	fields := [][]byte{[]byte(TagSubmit)}
	if c.Kind != "" {
		fields = append(fields, []byte(c.Kind))
	}
	if err := frame.Write(c.w, fields...); err != nil {
		c.Close()
		return nil, c.sendErr(err)
	}
	return &Submission{c: c, buf: make([]byte, 0, MaxData)}, nil
}

// ErrBusy is what a client's error wraps when the daemon has no place for
// it now (too many submissions under way): nothing was sent, and the
// message can go to the pickup directory.
var ErrBusy = errors.New("the gqmail daemon is too busy to take a submission now")

// dial connects to the daemon at path and reads its greeting. Errors are
// temporary *outcome.Error; one wrapping ErrBusy when the daemon refused
// the connection for want of room.
func dial(ctx context.Context, path string) (*os.File, *bufio.Reader, *bufio.Writer, error) {
	conn, err := connect(ctx, path)
	if err != nil {
		return nil, nil, nil, err
	}
	conn.SetReadDeadline(time.Now().Add(helloTimeout))
	r := bufio.NewReader(conn)
	f, err := frame.ReadLimit(r, MaxFrame)
	conn.SetReadDeadline(time.Time{})
	if err != nil || len(f) != 3 || string(f[0]) != TagHello || len(f[1]) != 1 {
		conn.Close()
		return nil, nil, nil, outcome.Temporary("The gqmail daemon at %s did not greet as this release's does (%.40q, %v); is it the same version? (#4.3.0)", path, f, err)
	}
	if herr, ok := outcome.FromLetter(f[1][0], string(f[2])); !ok || herr != nil {
		conn.Close()
		if !ok {
			return nil, nil, nil, outcome.Temporary("The gqmail daemon at %s greeted with a letter I do not know (%q). (#4.3.0)", path, f[1])
		}
		return nil, nil, nil, outcome.TemporaryErr(ErrBusy, "%s", outcome.Text(herr))
	}
	return conn, r, bufio.NewWriter(conn), nil
}

// connect opens a Unix stream socket to path, without package net (see
// the package doc). A daemon whose backlog is full (EAGAIN) is tried
// again for a while, then counts as busy.
func connect(ctx context.Context, path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, outcome.TemporaryErr(err, "Unable to make a socket: %v. (#4.3.0)", err)
	}
	deadline := time.Now().Add(connectPatience)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EAGAIN || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	switch {
	case err == unix.EAGAIN:
		unix.Close(fd)
		return nil, outcome.TemporaryErr(ErrBusy, "The gqmail daemon at %s takes no connections now. (#4.3.2)", path)
	case err != nil:
		unix.Close(fd)
		return nil, outcome.TemporaryErr(&os.PathError{Op: "connect", Path: path, Err: err}, "Unable to reach the gqmail daemon at %s: %v. (#4.3.0)", path, err)
	}
	// Non-blocking, so the runtime's poller serves it and deadlines work.
	return os.NewFile(uintptr(fd), path), nil
}

// connectPatience is how long connect waits for room in a full backlog.
const connectPatience = 2 * time.Second

// helloTimeout bounds the wait for the daemon's greeting, which it sends
// as soon as it accepts the connection.
const helloTimeout = time.Minute

func (c *Client) sendErr(err error) error {
	return outcome.TemporaryErr(err, "Unable to send the message to the gqmail daemon: %v. (#4.3.0)", err)
}

// Write sends p in data frames of at most 64 KiB.
func (s *Submission) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.err == nil {
		k := min(len(p), MaxData-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == MaxData {
			s.flush()
		}
	}
	if s.err != nil {
		return 0, s.err
	}
	return n, nil
}

func (s *Submission) flush() {
	if len(s.buf) == 0 || s.err != nil {
		return
	}
	if err := frame.Write(s.c.w, []byte(TagData), s.buf); err != nil {
		s.err = s.c.sendErr(err)
		s.c.Close()
	}
	s.buf = s.buf[:0]
}

// Commit sends the envelope of msg (its addresses only: the daemon routes
// them; Body and Spool are not used) and returns the queue ID once the
// daemon has the message on disk. Errors are *outcome.Error: temporary
// when the daemon cannot be reached or cannot queue now, permanent when it
// refuses the message.
func (s *Submission) Commit(_ context.Context, msg *store.NewMessage) (store.MsgID, error) {
	s.flush()
	if s.err != nil {
		return 0, s.err
	}
	c := s.c
	// Recipients go in frames of at most 64 KiB of addresses.
	rcpts, size := [][]byte{[]byte(TagRcpt)}, 0
	for i, r := range msg.Recipients {
		rcpts = append(rcpts, []byte(r))
		size += len(r) + 4
		if size >= MaxData || i == len(msg.Recipients)-1 {
			if err := frame.Write(c.w, rcpts...); err != nil {
				c.Close()
				return 0, c.sendErr(err)
			}
			rcpts, size = rcpts[:1], 0
		}
	}
	if err := frame.Write(c.w, []byte(TagCommit), []byte(msg.Sender), []byte(msg.Origin.Kind), []byte(msg.Origin.RemoteIP), []byte(msg.Origin.HELO)); err != nil {
		c.Close()
		return 0, c.sendErr(err)
	}
	resp, err := frame.Read(c.r)
	if err != nil || len(resp) != 4 || string(resp[0]) != TagResult || len(resp[1]) != 1 {
		c.Close()
		// The daemon may have queued it: the sender will try again and
		// at worst the message goes out twice, never zero times.
		return 0, outcome.Temporary("Lost the connection to the gqmail daemon before it answered; the message may have been queued. (#4.3.0)")
	}
	id, _ := frame.GetU64(resp[3])
	err, ok := outcome.FromLetter(resp[1][0], string(resp[2]))
	if !ok {
		return 0, outcome.Temporary("The gqmail daemon gave an answer I do not know (%q); the message may have been queued. (#4.3.0)", resp[1])
	}
	if err != nil {
		return 0, err
	}
	return store.MsgID(id), nil
}

// Abort throws the message away.
func (s *Submission) Abort() {
	if s.err != nil || s.c.conn == nil {
		return
	}
	if err := frame.Write(s.c.w, []byte(TagAbort)); err != nil {
		s.c.Close()
	}
}

// Accept submits a whole message held in msg.Body.
func (c *Client) Accept(ctx context.Context, msg *store.NewMessage) (store.MsgID, error) {
	s, err := c.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := s.Write(msg.Body); err != nil {
		return 0, err
	}
	return s.Commit(ctx, msg)
}

// Close closes the connection, if any.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
