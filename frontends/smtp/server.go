package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// Queue is where accepted messages go: the store, or in stdio mode a
// connection to the daemon that holds it.
type Queue interface {
	Accept(ctx context.Context, msg *store.NewMessage) (store.MsgID, error)
}

// Server serves SMTP. Set the fields, then call Serve or ServeConn.
type Server struct {
	Controls *control.Dir
	Config   *config.SMTP
	Router   *route.Router
	Queue    Queue
	Log      *qlog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	once sync.Once
	smtp *gosmtp.Server
	// slots holds a place for each SMTP session under way, on every
	// listener.
	slots chan struct{}
}

// maxLine bounds a command or data line. qmail has no limit; one is needed
// so that a client cannot make the server hold an endless line.
const maxLine = 1 << 20

// maxRecipients bounds the recipients of one message.
const maxRecipients = 10000

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// server is the one go-smtp server behind every listener.
func (s *Server) server() *gosmtp.Server {
	s.once.Do(func() {
		srv := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
		srv.Domain = "gqmail" // replaced by qmailConn; see conn.go
		srv.MaxLineLength = maxLine
		srv.MaxRecipients = maxRecipients
		srv.ErrorLog = errorLog{s.Log}
		s.smtp = srv
		s.slots = make(chan struct{}, max(s.Config.MaxConnections, 1))
	})
	return s.smtp
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.server().Serve(&listener{Listener: l, srv: s, slots: s.slots})
	if errors.Is(err, gosmtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for the open ones to end
// or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.server().Shutdown(ctx)
	if errors.Is(err, gosmtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	err := s.server().Close()
	if errors.Is(err, gosmtp.ErrServerClosed) {
		return nil
	}
	return err
}

// connParams are the settings of one connection, read when it starts.
type connParams struct {
	remoteIP    netip.Addr
	remoteHost  string // "unknown" unless the environment says
	localHost   string
	relay       bool
	relayAppend string
	rcptHosts   control.DomainSet
	haveRcpt    bool
	badMailFrom *control.BadMailFrom
	databytes   int64
}

// wrap reads the controls for a new connection.
func (s *Server) wrap(c net.Conn) (*qmailConn, error) {
	p := &connParams{remoteHost: "unknown"}
	if sc, ok := c.(*StdioConn); ok {
		// tcpserver's environment says who the client is and whether
		// it may relay; qmail.toml's relay_from does not apply.
		p.remoteIP, _ = netip.ParseAddr(sc.RemoteIP)
		p.remoteHost, p.localHost = sc.RemoteHost, sc.LocalHost
		p.relay, p.relayAppend = sc.Relay, sc.RelayAppend
	} else {
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			p.remoteIP = ap.Addr().Unmap()
		}
		p.relay = s.Config.MayRelay(p.remoteIP)
	}
	greeting, ok := s.Controls.SMTPGreeting()
	if !ok {
		return nil, errors.New("neither control/smtpgreeting nor control/me exists")
	}
	if p.localHost == "" {
		if me, ok := s.Controls.Me(); ok {
			p.localHost = me
		} else {
			p.localHost = "unknown"
		}
	}
	p.rcptHosts, p.haveRcpt = s.Controls.RcptHosts()
	p.badMailFrom = s.Controls.BadMailFrom()
	p.databytes = s.Controls.Databytes()
	if p.databytes == 0 || p.databytes > s.Config.MaxMessageBytes {
		p.databytes = s.Config.MaxMessageBytes
	}
	return &qmailConn{
		Conn:     c,
		greeting: "220 " + greeting + " ESMTP\r\n",
		timeout:  s.Controls.TimeoutSMTPD(),
		params:   p,
	}, nil
}

// ServeConn serves one connection that did not come from a listener, such
// as stdin and stdout under tcpserver; it returns when the client is gone.
func (s *Server) ServeConn(c *StdioConn) error {
	qc, err := s.wrap(c)
	if err != nil {
		c.Write([]byte("421 unable to read controls (#4.3.0)\r\n"))
		c.Close()
		return err
	}
	l := &oneConn{c: qc, done: make(chan struct{})}
	err = s.server().Serve(l)
	if errors.Is(err, io.EOF) || errors.Is(err, gosmtp.ErrServerClosed) {
		err = nil
	}
	<-l.done
	return err
}

// errorLog sends go-smtp's own complaints to our log.
type errorLog struct{ log *qlog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.log.Warning("smtp: "+format, v...) }
func (e errorLog) Println(v ...any)               { e.log.Warning("smtp: %s", strings.TrimSpace(fmt.Sprintln(v...))) }

func (s *Server) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	w, ok := c.Conn().(interface{ qmail() *qmailConn })
	if !ok {
		return nil, errors.New("connection was not wrapped")
	}
	qc := w.qmail()
	return &session{srv: s, conn: qc, p: qc.params, helo: c.Hostname()}, nil
}

// session is one client's state.
type session struct {
	srv  *Server
	conn *qmailConn
	p    *connParams
	helo string

	sender  string
	badFrom bool
	rcpts   []string
}

// reply is an SMTP answer with qmail's text and no enhanced status code.
func reply(code int, text string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.NoEnhancedCode, Message: text}
}

// maxAddress is qmail-smtpd's bound: a parsed address of 900 bytes or
// more is a syntax error.
const maxAddress = 900

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if len(from) >= maxAddress || strings.ContainsAny(from, "\r\n\x00") {
		return reply(555, "syntax error (#5.5.4)")
	}
	ss.sender = from
	ss.badFrom = ss.p.badMailFrom.Matches(from)
	ss.rcpts = ss.rcpts[:0]
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if len(to) >= maxAddress || strings.ContainsAny(to, "\r\n\x00") {
		return reply(555, "syntax error (#5.5.4)")
	}
	if ss.badFrom {
		return reply(553, "sorry, your envelope sender is in my badmailfrom list (#5.7.1)")
	}
	if ss.p.relay {
		ss.rcpts = append(ss.rcpts, to+ss.p.relayAppend)
		return nil
	}
	if !ss.allowed(to) {
		return reply(553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

// allowed is qmail's addrallowed, with one difference: with no rcpthosts
// file only the local and virtual domains are allowed, not everything.
func (ss *session) allowed(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return true
	}
	domain := address.Lower(addr[at+1:])
	if ss.p.haveRcpt {
		return ss.p.rcptHosts.MatchRcptHost(domain)
	}
	return ss.srv.Router.IsLocal(domain)
}

func (ss *session) Data(r io.Reader) error {
	m := newMessageReader(ss.p.databytes)
	if err := m.readFrom(r); err != nil {
		return err
	}
	switch {
	case m.bareLF || m.bareCR:
		ss.conn.closeAfterReply()
		return reply(451, "See https://cr.yp.to/docs/smtplf.html.")
	case m.tooBig:
		return reply(552, "sorry, that message size exceeds my databytes limit (#5.3.4)")
	case m.hops >= hopLimit:
		return reply(554, "too many hops, this message is looping (#5.4.6)")
	}
	now := ss.srv.now()
	body := append([]byte(ss.received(now)), m.message()...)
	msg := &store.NewMessage{
		Sender: ss.sender,
		Origin: store.Origin{Kind: "smtp", RemoteIP: ss.p.remoteIP.String(), HELO: ss.helo, UID: -1},
		Body:   body,
	}
	for _, rc := range ss.rcpts {
		msg.Recipients = append(msg.Recipients, ss.srv.Router.Classify(rc))
	}
	id, err := ss.srv.Queue.Accept(context.Background(), msg)
	if err != nil {
		ss.srv.Log.Warning("smtp: unable to queue message from %s: %v", ss.p.remoteIP, err)
		if outcome.IsPermanent(err) {
			return reply(554, outcome.Text(err))
		}
		return reply(451, "qq write error or disk full (#4.3.0)")
	}
	ss.srv.Log.Queued(uint64(id), int64(len(body)), ss.sender, os.Getuid())
	// go-smtp answers a nil error with its own text; an "error" with code
	// 250 is how a backend chooses the text of the success reply.
	return reply(250, fmt.Sprintf("ok %d qp %d", now.Unix(), id))
}

// received is qmail-smtpd's Received line.
func (ss *session) received(now time.Time) string {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(safe(ss.p.remoteHost))
	if ss.helo != "" && !strings.EqualFold(ss.helo, ss.p.remoteHost) {
		b.WriteString(" (HELO ")
		b.WriteString(safe(ss.helo))
		b.WriteString(")")
	}
	ip := "unknown"
	if ss.p.remoteIP.IsValid() {
		ip = ss.p.remoteIP.String()
	}
	b.WriteString(" (")
	b.WriteString(safe(ip))
	b.WriteString(")\n  by ")
	b.WriteString(safe(ss.p.localHost))
	b.WriteString(" with SMTP; ")
	b.WriteString(now.UTC().Format("2 Jan 2006 15:04:05 -0000"))
	b.WriteString("\n")
	return b.String()
}

// safe replaces every byte qmail-smtpd would not put in a Received line.
func safe(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(".@%+/=:-[]", c) >= 0:
		default:
			b[i] = '?'
		}
	}
	return string(b)
}

func (ss *session) Reset() {
	ss.sender, ss.badFrom, ss.rcpts = "", false, ss.rcpts[:0]
}

func (ss *session) Logout() error { return nil }
