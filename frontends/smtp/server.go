package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// Queue is where accepted messages go: the store, or in stdio mode the
// daemon's submission socket.
type Queue interface {
	// Begin starts a message. Its bytes are written to the Draft as they
	// arrive, and Commit or Abort ends it.
	Begin(ctx context.Context) (Draft, error)
}

// Draft is a message being received.
type Draft interface {
	io.Writer
	// Commit queues the message with the envelope of msg (whose Body and
	// Spool are not used) and returns its id once it is on disk. Errors
	// are *outcome.Error when the queue says how to answer.
	Commit(ctx context.Context, msg *store.NewMessage) (store.MsgID, error)
	// Abort throws the message away.
	Abort()
}

// Server serves SMTP. Set the fields, then call Serve or ServeConn.
type Server struct {
	Controls *control.Dir
	Config   *config.SMTP
	Router   *route.Router
	Queue    Queue
	Log      *qlog.Logger
	// Now is the clock for Received lines and replies; time.Now when nil.
	Now func() time.Time

	// TLS, when set, is offered as STARTTLS and used by implicit TLS
	// listeners. TLSReady says whether a certificate is loaded right
	// now; STARTTLS is offered only then. Nil means always.
	TLS      *tls.Config
	TLSReady func() bool
	// Auth checks the logins of AUTH, offered on submission listeners
	// once the session is encrypted. AuthConfig says how senders are
	// restricted and failures limited. Without Auth a submission
	// listener takes no mail.
	Auth       Authenticator
	AuthConfig *config.Auth
	// AuthFailureDelay is how long a failed login waits for its 535;
	// two seconds when zero.
	AuthFailureDelay time.Duration
	// AliasAccount is the account that gets mail no user owns; an
	// address that only reaches it is nobody's own sender address.
	AliasAccount string
	// Recipients, when set and Config.VerifyLocalRecipients is on,
	// refuses local recipients no mailbox accepts.
	Recipients RecipientChecker
	// Filter, when set, judges each message before it is accepted.
	Filter *Filter

	once     sync.Once
	gate     *gate
	failures *failureCounter
	sessions atomic.Uint64
	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	done     bool
	wg       sync.WaitGroup
}

func (s *Server) init() {
	s.once.Do(func() {
		s.gate = newGate(s.Config.MaxConnections, s.Config.MaxConnectionsPerIP)
		ac := s.authConfig()
		s.failures = newFailureCounter(ac.MaxFailures, ac.FailureWindow)
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("smtp: server closed")

// Role is what a listener is for.
type Role struct {
	// Submission: AUTH (after TLS) is needed before MAIL, and the
	// authenticated client may relay.
	Submission bool
	// ImplicitTLS: the TLS handshake comes first, before the greeting.
	ImplicitTLS bool
}

func (r Role) String() string {
	switch {
	case r.Submission && r.ImplicitTLS:
		return "submissions"
	case r.Submission:
		return "submission"
	case r.ImplicitTLS:
		return "smtps"
	}
	return "smtp"
}

// Serve accepts connections on l until Close or Shutdown. It returns nil
// then.
func (s *Server) Serve(l net.Listener) error { return s.ServeRole(l, Role{}) }

// ServeRole serves l as Serve does, in the given role.
func (s *Server) ServeRole(l net.Listener, role Role) error {
	s.init()
	if !s.track(l, true) {
		return nil
	}
	defer s.track(l, false)
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of descriptors, say: wait and go on, rather than
			// stop taking mail while the daemon runs.
			s.Log.Warning("smtp: accepting on %v: %v; trying again", l.Addr(), err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ip := netip.Addr{}
		if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
			ip = ap.Addr().Unmap()
		}
		relay := s.Config.MayRelay(ip)
		release, refusal := s.gate.enter(ip, relay)
		if refusal != "" {
			s.wg.Go(func() {
				nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(nc, refusal)
				nc.Close()
			})
			continue
		}
		p := &connParams{remoteIP: ip, remoteHost: "unknown", relay: relay, role: role}
		s.start(nc, p, release)
	}
}

// ServeConn serves one connection that did not come from a listener, such
// as stdin and stdout under tcpserver; it returns when the client is gone.
// tcpserver limits connections itself, so no limit applies here. A
// connection on which timeouts cannot be set is refused: it could be held
// for ever.
func (s *Server) ServeConn(c *StdioConn) error {
	s.init()
	if err := c.checkDeadlines(); err != nil {
		io.WriteString(c, "421 unable to set timeouts (#4.3.0)\r\n")
		c.Close()
		return err
	}
	p := &connParams{remoteHost: c.RemoteHost, remoteInfo: c.RemoteInfo, localHost: c.LocalHost, relay: c.Relay, relayAppend: c.RelayAppend}
	p.remoteIP, _ = netip.ParseAddr(c.RemoteIP)
	cn := s.start(c, p, func() {})
	if cn == nil {
		return errors.New("unable to serve the connection")
	}
	s.wg.Wait()
	return nil
}

// authConfig is AuthConfig, or the defaults when it is unset.
func (s *Server) authConfig() *config.Auth {
	if s.AuthConfig != nil {
		return s.AuthConfig
	}
	d := config.Defaults(false).Auth
	return &d
}

// start serves nc in a goroutine of its own. It returns nil when the
// server is closed.
func (s *Server) start(nc net.Conn, p *connParams, release func()) *conn {
	p.session = s.sessions.Add(1)
	c := newConn(s, nc, p)
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		release()
		nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			release()
		}()
		c.serve()
	})
	return c
}

func (s *Server) track(l net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.done {
			return false
		}
		s.lns[l] = struct{}{}
	} else {
		delete(s.lns, l)
	}
	return true
}

func (s *Server) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Shutdown stops accepting connections and waits for the open sessions to
// end, or for ctx; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.stopListening()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, and waits for
// their goroutines.
func (s *Server) Close() error {
	s.init()
	s.stopListening()
	s.mu.Lock()
	for c := range s.conns {
		c.raw.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for l := range s.lns {
		l.Close()
	}
}
