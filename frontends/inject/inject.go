// Package inject is the local submission socket: how sendmail,
// qmail-inject, qmail-queue and the stdin/stdout SMTP server hand a message
// to the running daemon, which alone holds the queue database. It replaces
// qmail's setuid qmail-queue: nothing here is setuid, and the daemon learns
// who is submitting from the socket's peer credentials.
//
// # Protocol
//
// Over a Unix stream socket, in frames (internal/frame), any number of
// submissions one after the other:
//
//	request   "submit/1" sender origin-kind remote-ip helo body rcpt...
//	response  status text message-id(8)
//
// status is "K" (queued; the accept transaction is on disk), "Z"
// (temporary failure, try again) or "D" (permanent failure). A submitter
// may claim an SMTP origin (origin-kind "smtp", with the client's address
// and HELO name) only if its uid is trusted (root or the daemon's own
// user); anyone else's message is recorded as injected locally by their uid.
package inject

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

const requestTag = "submit/1"

// Queue is where accepted messages go.
type Queue interface {
	Accept(ctx context.Context, msg *store.NewMessage) (store.MsgID, error)
}

// Server accepts submissions on a Unix socket.
type Server struct {
	Queue  Queue
	Router *route.Router
	Log    *qlog.Logger
	// TrustedUIDs may claim an SMTP origin.
	TrustedUIDs []int
	// MaxMessageBytes bounds one submission.
	MaxMessageBytes int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen makes the socket at path, replacing a stale one, open to every
// local user.
func Listen(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("submission socket %s: %w", path, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("submission socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("submission socket %s: %w", path, err)
	}
	return l, nil
}

// Serve answers submissions on l until it is closed, then waits for the
// connections under way.
func (s *Server) Serve(l *net.UnixListener) error {
	defer s.wg.Wait()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("submission socket: %w", err)
		}
		s.track(c, true)
		s.wg.Go(func() {
			defer s.track(c, false)
			defer c.Close()
			if err := s.serveConn(c); err != nil {
				s.Log.Warning("submission socket: %v", err)
			}
		})
	}
}

// CloseConns closes the connections under way; Serve then returns once
// the listener is closed too.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return int(cred.Uid), nil
}

func (s *Server) serveConn(c *net.UnixConn) error {
	uid, err := peerUID(c)
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		c.SetReadDeadline(time.Now().Add(20 * time.Minute))
		fields, err := frame.ReadLimit(r, int(s.MaxMessageBytes)+1<<20)
		if err != nil {
			if errors.Is(err, frame.ErrTooLarge) {
				frame.Write(w, []byte("D"), []byte("Sorry, that message size exceeds my databytes limit. (#5.3.4)"), frame.U64(0))
				return nil
			}
			return nil // the submitter went away; nothing was accepted
		}
		status, text, id := s.submit(uid, fields)
		if err := frame.Write(w, []byte(status), []byte(text), frame.U64(uint64(id))); err != nil {
			return fmt.Errorf("answering uid %d: %w", uid, err)
		}
	}
}

func (s *Server) submit(uid int, f [][]byte) (string, string, store.MsgID) {
	if len(f) < 7 || string(f[0]) != requestTag {
		return "D", "Malformed submission. (#5.3.5)", 0
	}
	msg := &store.NewMessage{Sender: string(f[1]), Body: f[5]}
	if int64(len(msg.Body)) > s.MaxMessageBytes {
		return "D", "Sorry, that message size exceeds my databytes limit. (#5.3.4)", 0
	}
	kind := string(f[2])
	if kind == "smtp" && slices.Contains(s.TrustedUIDs, uid) {
		msg.Origin = store.Origin{Kind: "smtp", RemoteIP: string(f[3]), HELO: string(f[4]), UID: -1}
	} else {
		msg.Origin = store.Origin{Kind: "local", UID: uid}
	}
	for _, rc := range f[6:] {
		msg.Recipients = append(msg.Recipients, s.Router.Classify(string(rc)))
	}
	id, err := s.Queue.Accept(context.Background(), msg)
	if err != nil {
		s.Log.Warning("submission socket: unable to queue message from uid %d: %v", uid, err)
		return "Z", "qq write error or disk full (#4.3.0)", 0
	}
	s.Log.Queued(uint64(id), int64(len(msg.Body)), msg.Sender, uid)
	return "K", fmt.Sprintf("ok %d qp %d", time.Now().Unix(), id), id
}
