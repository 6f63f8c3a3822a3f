package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/unixsock"
	"github.com/gqmail/gqmail/store"
)

// Server limits.
const (
	// MaxConns bounds the clients served at once.
	MaxConns = 8
	// IdleTimeout bounds the wait for a client's next request.
	IdleTimeout = 5 * time.Minute
	// WriteTimeout bounds the write of one answer frame.
	WriteTimeout = time.Minute
)

// SocketName is the socket's name in the root's submit/ directory.
const SocketName = "admin.sock"

// SocketPath returns the admin socket's path for the submit directory.
func SocketPath(submitDir string) string { return filepath.Join(submitDir, SocketName) }

// Server answers qmailctl on the admin socket.
type Server struct {
	Queue   Queue
	Changer Changer
	Bouncer Bouncer
	Log     *qlog.Logger
	// AllowedUIDs may connect: root and the daemon's own account.
	AllowedUIDs []int
	// Kick, when set, is called after a change that made recipients due
	// (retry, release), so the engine looks at once.
	Kick func()
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	// ctx ends when CloseConns is called: a long change stops at its
	// next page.
	ctx    context.Context
	cancel context.CancelFunc
}

// Listen makes the socket at path, mode 0600 for the current user (the
// daemon's account): it is bound under a temporary name, given its mode,
// and renamed into place, so that it is never reachable with a wider
// mode.
func Listen(path string) (*net.UnixListener, error) {
	tmp := path + ".new"
	for _, p := range []string{tmp, path} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("admin socket %s: %w", p, err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", tmp, err)
	}
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return l, nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Serve answers clients on l until it is closed, then waits for the
// connections under way.
func (s *Server) Serve(l *net.UnixListener) error {
	defer s.wg.Wait()
	for {
		c, ok := unixsock.Accept(l, s.Log, "admin socket")
		if !ok {
			return nil
		}
		uid, err := peerUID(c)
		var why string
		switch {
		case err != nil:
			why = fmt.Sprintf("cannot tell who you are: %v", err)
		case !slices.Contains(s.AllowedUIDs, uid):
			why = fmt.Sprintf("uid %d may not administer the queue; only root and the daemon's account may", uid)
			s.Log.Warning("admin socket: refused uid %d", uid)
		case !s.enter(c):
			why = "too many administration clients at once; try again"
		}
		if why != "" {
			unixsock.Refuse(&s.wg, c, TagHello, why)
			continue
		}
		s.wg.Go(func() {
			defer s.leave(c)
			defer c.Close()
			if err := s.serveConn(c, uid); err != nil {
				s.Log.Warning("admin socket: uid %d: %v", uid, err)
			}
		})
	}
}

func (s *Server) enter(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if s.conns == nil {
		s.conns = map[net.Conn]bool{}
	}
	if len(s.conns) >= MaxConns {
		return false
	}
	s.conns[c] = true
	return true
}

func (s *Server) leave(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// init makes the context of the requests; s.mu is held.
func (s *Server) init() {
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

// CloseConns closes the connections under way and stops their requests
// at the next page.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.cancel()
	for c := range s.conns {
		c.Close()
	}
}

func peerUID(c *net.UnixConn) (int, error) {
	cred, err := unixsock.PeerCred(c)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}

// answerer writes answer frames, each within WriteTimeout.
type answerer struct {
	c net.Conn
	w *bufio.Writer
}

func (a *answerer) write(fields ...[]byte) error {
	a.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return frame.Write(a.w, fields...)
}

func (a *answerer) json(tag string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.write([]byte(tag), b)
}

// message writes m: its envelope, then its recipients in frames of
// rcptsPerFrame.
func (a *answerer) message(m *Message) error {
	rcpts := m.Recipients
	m.Recipients = nil
	defer func() { m.Recipients = rcpts }()
	if err := a.json(TagMsg, m); err != nil {
		return err
	}
	for len(rcpts) > 0 {
		n := min(len(rcpts), rcptsPerFrame)
		if err := a.json(TagRcpts, rcpts[:n]); err != nil {
			return err
		}
		rcpts = rcpts[n:]
	}
	return nil
}

// errWrite marks a failure to write to the client: the connection is
// over.
type errWrite struct{ error }

func (s *Server) serveConn(c *net.UnixConn, uid int) error {
	a := &answerer{c: c, w: bufio.NewWriterSize(c, 64<<10)}
	if err := a.write([]byte(TagHello), []byte{outcome.Letter(nil)}, []byte("go ahead")); err != nil {
		return nil
	}
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		f, err := frame.ReadLimit(r, MaxRequest)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		err = s.request(a, f, uid)
		var we errWrite
		if errors.As(err, &we) {
			return nil // the client went away
		}
		if err != nil {
			if werr := a.write([]byte(TagError), []byte(err.Error())); werr != nil {
				return nil
			}
		}
	}
}

// request answers one request. An errWrite means the client is gone; any
// other error is its answer.
func (s *Server) request(a *answerer, f [][]byte, uid int) error {
	if len(f) == 0 {
		return errors.New("empty request")
	}
	w := func(err error) error {
		if err != nil {
			return errWrite{err}
		}
		return nil
	}
	filter := func(b []byte) (Filter, error) {
		var fl Filter
		if err := json.Unmarshal(b, &fl); err != nil {
			return fl, fmt.Errorf("malformed filter: %w", err)
		}
		return fl, fl.Check()
	}
	now := s.now()
	switch tag := string(f[0]); {
	case tag == TagList && len(f) == 2:
		fl, err := filter(f[1])
		if err != nil {
			return err
		}
		var werr error
		err = List(s.ctx, s.Queue, fl, now, func(m *Message) error {
			werr = a.message(m)
			return werr
		})
		if werr != nil {
			return errWrite{werr}
		}
		if err != nil {
			return err
		}
		return w(a.write([]byte(TagEnd)))
	case tag == TagStat && len(f) == 2:
		fl, err := filter(f[1])
		if err != nil {
			return err
		}
		st, err := Stats(s.ctx, s.Queue, fl, now)
		if err != nil {
			return err
		}
		return w(a.json(TagStatRes, st))
	case tag == TagShow && len(f) == 3:
		id, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return fmt.Errorf("message id %q: not a number", f[1])
		}
		var werr error
		dw := &dataWriter{a: a}
		err = Show(s.Queue, id, string(f[2]) == "1", func(m *Message) error {
			werr = a.message(m)
			return werr
		}, dw)
		if err == nil {
			err = dw.flush()
		}
		if werr != nil || dw.err != nil {
			return errWrite{errors.Join(werr, dw.err)}
		}
		if err != nil {
			return err
		}
		return w(a.write([]byte(TagEnd)))
	case tag == TagChange && len(f) == 4:
		verb, dry := string(f[1]), string(f[2]) == "1"
		fl, err := filter(f[3])
		if err != nil {
			return err
		}
		counts, err := Change(s.ctx, s.Queue, s.Changer, s.Bouncer, verb, fl, dry, now, func(id store.MsgID) {
			s.Log.EndMsg(uint64(id))
		})
		if !dry && (counts.Recipients > 0 || err != nil) {
			s.Log.Info("admin: uid %d: %s: %d recipients of %d messages%s", uid, verb, counts.Recipients, counts.Messages, errSuffix(err))
		}
		if err != nil {
			return err
		}
		if !dry && s.Kick != nil && counts.Recipients > 0 && (verb == VerbRetry || verb == VerbRelease) {
			s.Kick()
		}
		return w(a.json(TagChanged, counts))
	}
	return fmt.Errorf("unknown request %.40q with %d fields; this daemon speaks %s", f[0], len(f)-1, TagHello)
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(", then: %v", err)
}

// dataWriter sends what is written to it in data frames.
type dataWriter struct {
	a   *answerer
	buf []byte
	err error
}

func (d *dataWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), dataChunk-len(d.buf))
		d.buf = append(d.buf, p[:k]...)
		p = p[k:]
		if len(d.buf) == dataChunk {
			if err := d.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (d *dataWriter) flush() error {
	if d.err != nil || len(d.buf) == 0 {
		return d.err
	}
	d.err = d.a.write([]byte(TagData), d.buf)
	d.buf = d.buf[:0]
	return d.err
}
