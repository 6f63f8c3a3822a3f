// Package inject is the local submission socket: how sendmail,
// qmail-inject, qmail-queue and the stdin/stdout SMTP server hand a message
// to the running daemon, which alone holds the queue database. It replaces
// qmail's setuid qmail-queue: nothing here is setuid, and the daemon learns
// who is submitting from the socket's peer credentials.
//
// The protocol, and the client that sendmail and the other commands use,
// are in frontends/submission.
//
// # Who may say what
//
// A submitter may claim an SMTP origin (origin-kind "smtp", with the
// client's address and HELO name) only if its uid is trusted (root or the
// daemon's own user); anyone else's message is recorded as injected
// locally by their uid, and starts with qmail-queue's trace line
// "Received: (qmail PID invoked by uid UID); DATE", with the uid and pid
// from the socket's credentials, so that a Received line the submitter
// wrote itself can be told from it. A sender or recipient holding a CR,
// LF or NUL, or of 900 bytes or more, is refused, as SMTP refuses it.
//
// # Limits
//
// At most MaxConns submitters at once, and MaxConnsPerUID of one uid; one
// more is greeted "Z" and closed before anything is read (sendmail then
// writes to the pickup directory, which the daemon takes in at its pace). Trusted uids
// (qmaild smtpd under tcpserver, which bounds its own connections) are
// not counted. Each frame must arrive within FrameTimeout, and a
// connection is closed after MaxConnTime. A message's recipients may take
// 16 MiB at most (a local list manager may send to many).
package inject

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/unixsock"
	"github.com/gqmail/gqmail/store"
)

// Defaults of the Server's limits.
const (
	DefaultMaxConns       = 100
	DefaultMaxConnsPerUID = 10
	DefaultFrameTimeout   = 20 * time.Minute
	DefaultMaxConnTime    = time.Hour
)

// Queue is where accepted messages go.
type Queue interface {
	NewSpool() *store.Spool
	Accept(ctx context.Context, msg *store.NewMessage) (store.MsgID, error)
}

// Server accepts submissions on a Unix socket.
type Server struct {
	Queue Queue
	Log   *qlog.Logger
	// TrustedUIDs may claim an SMTP origin.
	TrustedUIDs []int
	// MaxMessageBytes bounds one submission.
	MaxMessageBytes int64
	// MaxConns, MaxConnsPerUID and FrameTimeout are the limits of the
	// package doc; zero means the defaults.
	MaxConns       int
	MaxConnsPerUID int
	FrameTimeout   time.Duration
	MaxConnTime    time.Duration
	// Now is the clock of the trace line; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
	// conns holds the connections under way, true for a trusted uid's.
	conns   map[net.Conn]bool
	byUID   map[int]int
	limited int // connections of uids that are not trusted
	wg      sync.WaitGroup
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
		c, ok := unixsock.Accept(l, s.Log, "submission socket")
		if !ok {
			return nil
		}
		cred, err := unixsock.PeerCred(c)
		if err != nil {
			s.Log.Warning("submission socket: peer credentials: %v", err)
			c.Close()
			continue
		}
		if why := s.enter(c, int(cred.Uid), slices.Contains(s.TrustedUIDs, int(cred.Uid))); why != "" {
			unixsock.Refuse(&s.wg, c, submission.TagHello, why)
			continue
		}
		s.wg.Go(func() {
			defer s.leave(c, int(cred.Uid))
			defer c.Close()
			if err := s.serveConn(c, cred); err != nil {
				s.Log.Warning("submission socket: %v", err)
			}
		})
	}
}

// enter counts a new connection of uid, or says why it is refused.
// Trusted uids are tracked but not limited.
func (s *Server) enter(c net.Conn, uid int, trusted bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns, s.byUID = map[net.Conn]bool{}, map[int]int{}
	}
	if trusted {
		s.conns[c] = true
		return ""
	}
	if s.limited >= orDefault(s.MaxConns, DefaultMaxConns) {
		return "Too many submissions under way; try again later. (#4.3.2)"
	}
	if s.byUID[uid] >= orDefault(s.MaxConnsPerUID, DefaultMaxConnsPerUID) {
		return fmt.Sprintf("Too many submissions from uid %d under way; try again later. (#4.3.2)", uid)
	}
	s.conns[c] = false
	s.byUID[uid]++
	s.limited++
	return ""
}

func (s *Server) leave(c net.Conn, uid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	trusted := s.conns[c]
	delete(s.conns, c)
	if trusted {
		return
	}
	s.limited--
	if s.byUID[uid]--; s.byUID[uid] <= 0 {
		delete(s.byUID, uid)
	}
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
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

func (s *Server) serveConn(c *net.UnixConn, cred *syscall.Ucred) error {
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := hello(w); err != nil {
		return nil // gone already
	}
	c.SetWriteDeadline(time.Time{})
	timeout := orDefault(s.FrameTimeout, DefaultFrameTimeout)
	end := time.Now().Add(orDefault(s.MaxConnTime, DefaultMaxConnTime))
	// Every read and every answer must be done within the frame timeout
	// and before the connection's end: a client that stops reading
	// holds its place no longer than one that stops writing.
	deadline := func() time.Time {
		d := time.Now().Add(timeout)
		if end.Before(d) {
			d = end
		}
		return d
	}
	read := func() ([][]byte, error) {
		c.SetReadDeadline(deadline())
		return frame.ReadLimit(r, submission.MaxFrame)
	}
	trusted := slices.Contains(s.TrustedUIDs, int(cred.Uid))
	for {
		f, err := read()
		if err != nil {
			return nil // the submitter went away; nothing was accepted
		}
		c.SetWriteDeadline(deadline())
		if len(f) == 1 && string(f[0]) == submission.TagList {
			if err := s.list(w, int(cred.Uid), trusted); err != nil {
				return fmt.Errorf("listing the queue for uid %d: %w", cred.Uid, err)
			}
			continue
		}
		if len(f) == 0 || len(f) > 2 || string(f[0]) != submission.TagSubmit {
			answer{err: outcome.Permanent("Unknown submission protocol; this daemon speaks %s. (#5.3.5)", submission.TagSubmit)}.write(w)
			return nil
		}
		// A trusted submitter (qmaild smtpd) relaying an SMTP message
		// says so first; its message gets no trace line of ours.
		fromSMTP := len(f) == 2 && string(f[1]) == submission.KindSMTP && trusted
		a, err := s.submission(read, cred, fromSMTP)
		if err != nil {
			return err
		}
		if a.aborted {
			continue
		}
		c.SetWriteDeadline(deadline())
		if err := a.write(w); err != nil {
			return fmt.Errorf("answering uid %d: %w", cred.Uid, err)
		}
	}
}

// hello greets a client the server admits ("K go ahead"); one it refuses
// is greeted by unixsock.Refuse.
func hello(w *bufio.Writer) error {
	return frame.Write(w, []byte(submission.TagHello), []byte{outcome.Letter(nil)}, []byte("go ahead"))
}

// answer is the reply to a submission: a nil err means queued as id.
type answer struct {
	text    string
	id      store.MsgID
	err     error
	aborted bool // the client aborted: no reply
}

func (a answer) write(w *bufio.Writer) error {
	text := a.text
	if a.err != nil {
		text = outcome.Text(a.err)
	}
	return frame.Write(w, []byte(submission.TagResult), []byte{outcome.Letter(a.err)}, []byte(text), frame.U64(uint64(a.id)))
}

// submission reads one message's data frames into a spool, then its
// commit or abort. An error means the connection is broken. Every message
// but one a trusted submitter relays from SMTP starts with qmail-queue's
// trace line, root's too, as qmail writes it.
func (s *Server) submission(read func() ([][]byte, error), cred *syscall.Ucred, fromSMTP bool) (answer, error) {
	uid := int(cred.Uid)
	sp := s.Queue.NewSpool()
	defer sp.Discard() // after Accept it does nothing
	if !fromSMTP {
		now := time.Now()
		if s.Now != nil {
			now = s.Now()
		}
		fmt.Fprintf(sp, "Received: (qmail %d invoked by uid %d); %s\n", cred.Pid, uid, date822.Format(now))
	}
	tooBig := false
	var rcpts []string
	var rcptCost int
	var refusal error // a recipient the message cannot have, answered at commit
	for {
		f, err := read()
		if err != nil {
			return answer{}, fmt.Errorf("uid %d went away in the middle of a message: %w", uid, err)
		}
		if len(f) == 0 {
			return answer{}, fmt.Errorf("uid %d sent an empty frame", uid)
		}
		switch string(f[0]) {
		case submission.TagData:
			if len(f) != 2 {
				return answer{}, fmt.Errorf("uid %d sent a malformed data frame", uid)
			}
			if tooBig {
				continue
			}
			if sp.Size()+int64(len(f[1])) > s.MaxMessageBytes+headroom(fromSMTP) {
				tooBig = true
				continue
			}
			sp.Write(f[1])
		case submission.TagRcpt:
			// Checked as they arrive, and charged what they cost the
			// daemon, so that no stream of recipients, empty or not,
			// makes it hold more than the budget.
			for _, a := range f[1:] {
				if refusal != nil {
					break
				}
				rcptCost += len(a) + submission.RecipientOverhead
				switch {
				case len(rcpts) >= submission.MaxRecipients || rcptCost > submission.MaxRecipientBytes:
					refusal = outcome.Permanent("Sorry, a message may have at most %d recipients here. (#5.5.3)", submission.MaxRecipients)
					rcpts = nil
				case len(a) == 0 || !submission.GoodAddress(string(a)):
					refusal = outcome.Permanent("Sorry, a recipient is empty, contains a CR, LF or NUL, or is 900 bytes or longer. (#5.1.3)")
					rcpts = nil
				default:
					rcpts = append(rcpts, string(a))
				}
			}
		case submission.TagAbort:
			return answer{aborted: true}, nil
		case submission.TagCommit:
			if refusal != nil {
				return answer{err: refusal}, nil
			}
			if tooBig {
				return answer{err: outcome.Permanent("Sorry, that message size exceeds my databytes limit. (#5.3.4)")}, nil
			}
			return s.commit(f[1:], rcpts, sp, uid, fromSMTP), nil
		default:
			return answer{}, fmt.Errorf("uid %d sent a %q frame inside a message", uid, f[0])
		}
	}
}

// headroom is what a message relayed from SMTP may hold beyond
// MaxMessageBytes: qmaild smtpd's own Received line, which databytes does
// not count.
func headroom(fromSMTP bool) int64 {
	if fromSMTP {
		return SMTPHeadroom
	}
	return 0
}

// SMTPHeadroom is the room qmaild smtpd's Received line may take beyond
// MaxMessageBytes.
const SMTPHeadroom = 4096

// commit queues the spooled message with the envelope in f (sender,
// origin kind, remote ip, helo) and rcpts.
func (s *Server) commit(f [][]byte, rcpts []string, sp *store.Spool, uid int, fromSMTP bool) answer {
	refuse := func(text string) answer { return answer{err: outcome.Permanent("%s", text)} }
	if len(f) != 4 {
		return refuse("Malformed submission. (#5.3.5)")
	}
	msg := &store.NewMessage{Sender: string(f[0]), Spool: sp}
	if string(f[1]) == "smtp" && fromSMTP {
		msg.Origin = store.Origin{Kind: "smtp", RemoteIP: string(f[2]), HELO: string(f[3]), UID: -1}
	} else {
		msg.Origin = store.Origin{Kind: "local", UID: uid}
	}
	if !submission.GoodAddress(msg.Sender) {
		return refuse("Sorry, the envelope sender contains a CR, LF or NUL, or is 900 bytes or longer. (#5.1.7)")
	}
	if len(rcpts) == 0 {
		return refuse("Sorry, a message needs at least one recipient. (#5.1.3)")
	}
	for _, rc := range rcpts {
		if !submission.GoodAddress(rc) {
			return refuse("Sorry, a recipient contains a CR, LF or NUL, or is 900 bytes or longer. (#5.1.3)")
		}
		msg.Recipients = append(msg.Recipients, rc)
	}
	size := sp.Size()
	id, err := s.Queue.Accept(context.Background(), msg)
	if err != nil {
		s.Log.Warning("submission socket: unable to queue message from uid %d: %v", uid, err)
		return answer{err: outcome.Temporary("qq write error or disk full (#4.3.0)")}
	}
	s.Log.Queued(uint64(id), size, msg.Sender, uid)
	return answer{text: fmt.Sprintf("ok %d qp %d", time.Now().Unix(), id), id: id}
}

// lookupUser names the account of uid.
func lookupUser(uid int) (string, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}
