package smtp

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// session is one client's SMTP dialogue, as qmail-smtpd holds it.
type session struct {
	c    *conn
	srv  *Server
	p    *connParams
	helo string

	seenMail  bool
	sender    string
	badFrom   bool
	rcpts     []string
	rcptBytes int
	// seen holds the recipients of this message as given: the same
	// string twice is taken once. The queue finds the same mailbox
	// spelt two ways (store.Accept).
	seen map[string]bool
}

// serve runs the connection: the greeting, then commands until QUIT, the
// client leaves, or time runs out.
func (c *conn) serve() {
	defer c.nc.Close()
	defer func() {
		// A bug must not take the other sessions and the queue down
		// with it: this session ends, and the log says why.
		if v := recover(); v != nil {
			c.srv.Log.Alert("smtp: panic serving %v: %v: %s", c.p.remoteIP, v, debug.Stack())
		}
	}()
	c.timeout = c.srv.Controls.TimeoutSMTPD()
	c.end = time.Now().Add(c.srv.Config.MaxSessionTime)
	stop := c.srv.gate.watch(c.stress)
	defer stop()
	if err := c.srv.readControls(c.p); err != nil {
		c.srv.Log.Warning("smtp: refusing %v: %v", c.p.remoteIP, err)
		c.reply("421 unable to read controls (#4.3.0)")
		c.flush()
		return
	}
	ss := &session{c: c, srv: c.srv, p: c.p}
	c.reply("220 " + c.p.greeting + " ESMTP")
	for {
		line, err := c.readLine()
		switch {
		case err == errLineTooLong:
			c.reply("500 line too long (#5.5.2)")
			continue
		case err != nil:
			ss.end(err)
			return
		}
		if !ss.command(line) {
			c.flush()
			return
		}
	}
}

// end says goodbye when the client can still hear it.
func (ss *session) end(err error) {
	switch {
	case isGone(err):
	case ss.c.pastEnd():
		ss.c.reply("421 session time limit reached, closing (#4.4.2)")
		ss.c.flush()
	case isTimeout(err):
		ss.c.reply("451 timeout (#4.4.2)")
		ss.c.flush()
	}
}

// readControls reads the control files a connection uses, when it starts:
// a change applies to the next connection.
func (s *Server) readControls(p *connParams) error {
	greeting, ok := s.Controls.SMTPGreeting()
	if !ok {
		return fmt.Errorf("neither control/smtpgreeting nor control/me exists")
	}
	p.greeting = greeting
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
	return nil
}

// command runs one command line and reports whether the session goes on.
func (ss *session) command(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimLeft(arg, " ")
	switch strings.ToLower(verb) {
	case "helo":
		ss.hello(arg)
		ss.c.reply("250 " + ss.p.greeting)
	case "ehlo":
		ss.hello(arg)
		ss.c.reply("250-" + ss.p.greeting)
		ss.c.reply("250-PIPELINING")
		ss.c.reply("250-8BITMIME")
		ss.c.reply("250 SIZE " + strconv.FormatInt(ss.p.databytes, 10))
	case "mail":
		ss.mail(arg)
	case "rcpt":
		ss.rcpt(arg)
	case "data":
		return ss.data()
	case "rset":
		ss.reset()
		ss.c.reply("250 flushed")
	case "noop":
		ss.c.reply("250 ok")
	case "vrfy":
		ss.c.reply("252 send some mail, i'll try my best")
	case "help":
		ss.c.reply("214 gqmail, a qmail-compatible mail transfer agent")
	case "quit":
		ss.c.reply("221 " + ss.p.greeting)
		return false
	default:
		ss.c.reply("502 unimplemented (#5.5.1)")
	}
	return true
}

// hello remembers the client's name and ends any transaction.
func (ss *session) hello(arg string) {
	ss.helo = arg
	ss.reset()
}

func (ss *session) reset() {
	ss.seenMail, ss.sender, ss.badFrom = false, "", false
	ss.rcpts, ss.seen, ss.rcptBytes = nil, nil, 0
}

func (ss *session) mail(arg string) {
	addr, params, ok := parsePath(arg)
	if !ok {
		ss.c.reply("555 syntax error (#5.5.4)")
		return
	}
	if size, ok := params["SIZE"]; ok {
		if n, err := strconv.ParseInt(size, 10, 64); err == nil && n > ss.p.databytes {
			ss.c.reply("552 sorry, that message size exceeds my databytes limit (#5.3.4)")
			return
		}
	}
	ss.reset()
	ss.seenMail = true
	ss.sender = addr
	ss.badFrom = ss.p.badMailFrom.Matches(addr)
	ss.c.reply("250 ok")
}

func (ss *session) rcpt(arg string) {
	if !ss.seenMail {
		ss.c.reply("503 MAIL first (#5.5.1)")
		return
	}
	addr, _, ok := parsePath(arg)
	if !ok || addr == "" {
		// qmail takes an empty recipient; no mailbox has that name.
		ss.c.reply("555 syntax error (#5.5.4)")
		return
	}
	if ss.badFrom {
		ss.c.reply("553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)")
		return
	}
	if ss.p.relay {
		addr += ss.p.relayAppend
	} else if !ss.allowed(addr) {
		ss.c.reply("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
		return
	}
	if ss.seen[addr] {
		ss.c.reply("250 ok")
		return
	}
	if len(ss.rcpts) >= ss.srv.Config.MaxRecipients || ss.rcptBytes+len(addr) > maxRecipientBytes {
		ss.c.reply("452 sorry, too many recipients (#4.5.3)")
		return
	}
	ss.rcptBytes += len(addr)
	if ss.seen == nil {
		ss.seen = map[string]bool{}
	}
	ss.seen[addr] = true
	ss.rcpts = append(ss.rcpts, addr)
	ss.c.reply("250 ok")
}

// maxRecipientBytes bounds the addresses of one message in a session, so
// that max_recipients long addresses cannot make a session hold more than
// this (the dedup set holds as much again).
const maxRecipientBytes = 128 << 10

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

// data receives the message and answers it. It reports whether the
// session goes on: not after a bare line end, nor when the client is
// gone.
func (ss *session) data() bool {
	switch {
	case !ss.seenMail:
		ss.c.reply("503 MAIL first (#5.5.1)")
		return true
	case len(ss.rcpts) == 0:
		ss.c.reply("503 RCPT first (#5.5.1)")
		return true
	}
	sender, rcpts := ss.sender, ss.rcpts
	ss.reset()
	draft, err := ss.srv.Queue.Begin(context.Background())
	if err != nil {
		ss.srv.Log.Warning("smtp: unable to start a message from %s: %v", ss.p.remoteIP, err)
		ss.c.reply("451 qqt failure (#4.3.0)")
		return true
	}
	now := ss.srv.now()
	ss.c.reply("354 go ahead")
	// The client waits for this before it sends the data.
	if err := ss.c.flush(); err != nil {
		draft.Abort()
		return false
	}
	m := newMessageWriter(draft, ss.p.databytes)
	m.writeHeader(ss.received(now))
	ss.c.dataMode(true)
	err = readData(ss.c.r, m)
	ss.c.dataMode(false)
	switch {
	case err != nil:
		draft.Abort()
		ss.end(err)
		return false
	case m.bareLF || m.bareCR:
		draft.Abort()
		ss.c.reply("451 See https://cr.yp.to/docs/smtplf.html.")
		return false
	case m.tooBig:
		draft.Abort()
		ss.c.reply("552 sorry, that message size exceeds my databytes limit (#5.3.4)")
		return true
	case m.hops >= hopLimit:
		draft.Abort()
		ss.c.reply("554 too many hops, this message is looping (#5.4.6)")
		return true
	}
	if err := m.flush(); err != nil {
		draft.Abort()
		ss.srv.Log.Warning("smtp: unable to queue message from %s: %v", ss.p.remoteIP, err)
		ss.c.reply("451 qq write error or disk full (#4.3.0)")
		return true
	}
	msg := &store.NewMessage{
		Sender:     sender,
		Recipients: rcpts,
		Origin:     store.Origin{Kind: "smtp", RemoteIP: ss.p.remoteIP.String(), HELO: ss.helo, UID: -1},
	}
	id, err := draft.Commit(context.Background(), msg)
	if err != nil {
		ss.srv.Log.Warning("smtp: unable to queue message from %s: %v", ss.p.remoteIP, err)
		if outcome.IsPermanent(err) {
			ss.c.reply("554 " + outcome.Text(err))
		} else {
			ss.c.reply("451 qq write error or disk full (#4.3.0)")
		}
		return true
	}
	ss.c.reply(fmt.Sprintf("250 ok %d qp %d", now.Unix(), id))
	return true
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
	if ss.p.remoteInfo != "" {
		b.WriteString(safe(ss.p.remoteInfo))
		b.WriteString("@")
	}
	b.WriteString(safe(ip))
	b.WriteString(")\n  by ")
	b.WriteString(safe(ss.p.localHost))
	b.WriteString(" with SMTP; ")
	b.WriteString(date822.Format(now))
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
