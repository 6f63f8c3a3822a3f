package smtp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
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

	// login is the authenticated login; empty before AUTH.
	login string
	// verb is the command being answered, for the refusal log.
	verb     string
	messages int
	refusals int
	// errors counts the refusals since the last accepted message.
	errors int
}

// maxLoggedRefusals bounds the refusal lines one session writes to the
// log, so that a client sending junk cannot flood it; the session's end
// line counts them all.
const maxLoggedRefusals = 50

// maxErrors is how many refusals a session may get between two accepted
// messages before it is closed, as Postfix's smtpd_hard_error_limit:
// probing for recipients, guessing commands or logins costs a client its
// connection.
const maxErrors = 20

// reply answers the command; a 4xx or 5xx answer is a refusal, logged.
func (ss *session) reply(text string) {
	if text != "" && (text[0] == '4' || text[0] == '5') {
		ss.refusals++
		ss.errors++
		switch {
		case ss.refusals <= maxLoggedRefusals:
			ss.srv.Log.SMTPRefusal(ss.p.session, ss.client(), ss.verb, text)
		case ss.refusals == maxLoggedRefusals+1:
			ss.srv.Log.Info("smtp %d: more refusals in this session are not logged", ss.p.session)
		}
	}
	ss.c.reply(text)
}

// client is the client's address as the log shows it.
func (ss *session) client() string {
	if ss.p.remoteIP.IsValid() {
		return ss.p.remoteIP.String()
	}
	return "unknown"
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
	start := time.Now()
	c.timeout = c.srv.Controls.TimeoutSMTPD()
	c.end = start.Add(c.srv.Config.MaxSessionTime)
	stop := c.srv.gate.watch(c.stress)
	defer stop()
	ss := &session{c: c, srv: c.srv, p: c.p}
	c.srv.Log.SMTPStart(c.p.session, ss.client(), c.raw.LocalAddr().String(), c.p.role.String())
	defer func() {
		c.srv.Log.SMTPEnd(c.p.session, qlog.SMTPSession{
			Client: ss.client(), HELO: ss.helo, TLS: c.tlsSummary(), Login: ss.login,
			Messages: ss.messages, Refusals: ss.refusals, Duration: time.Since(start),
		})
	}()
	if err := c.srv.readControls(c.p); err != nil {
		c.srv.Log.Warning("smtp %d: refusing %v: %v", c.p.session, c.p.remoteIP, err)
		ss.reply("421 unable to read controls (#4.3.0)")
		c.flush()
		return
	}
	if c.p.role.ImplicitTLS {
		if !c.srv.tlsOffered() {
			c.srv.Log.Warning("smtp %d: no certificate for the implicit TLS listener; closing the connection from %v", c.p.session, c.p.remoteIP)
			return
		}
		if err := c.startTLS(); err != nil {
			c.srv.Log.Info("smtp %d: TLS handshake with %v failed: %v", c.p.session, c.p.remoteIP, err)
			return
		}
	}
	ss.reply("220 " + c.p.greeting + " ESMTP")
	for {
		line, err := c.readLine()
		switch {
		case err == errLineTooLong:
			ss.verb = "(long line)"
			ss.reply("500 line too long (#5.5.2)")
		case err != nil:
			ss.end(err)
			return
		default:
			if !ss.command(line) {
				c.flush()
				return
			}
		}
		if ss.errors >= maxErrors {
			ss.verb = "(errors)"
			ss.reply("421 too many errors, closing the connection (#4.7.0)")
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
		ss.reply("421 session time limit reached, closing (#4.4.2)")
		ss.c.flush()
	case isTimeout(err):
		ss.reply("451 timeout (#4.4.2)")
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
	verb = strings.ToLower(verb)
	ss.verb = strings.ToUpper(verb)
	if len(ss.verb) > 16 {
		ss.verb = ss.verb[:16]
	}
	switch verb {
	case "helo":
		ss.hello(arg)
		ss.reply("250 " + ss.p.greeting)
	case "ehlo":
		ss.hello(arg)
		ss.ehlo()
	case "starttls":
		return ss.starttls(arg)
	case "auth":
		return ss.auth(arg)
	case "mail":
		ss.mail(arg)
	case "rcpt":
		ss.rcpt(arg)
	case "data":
		return ss.data()
	case "rset":
		ss.reset()
		ss.reply("250 flushed")
	case "noop":
		ss.reply("250 ok")
	case "vrfy":
		ss.reply("252 send some mail, i'll try my best")
	case "help":
		ss.reply("214 gqmail, a qmail-compatible mail transfer agent")
	case "quit":
		ss.reply("221 " + ss.p.greeting)
		return false
	default:
		ss.verb = "(unknown)"
		ss.reply("502 unimplemented (#5.5.1)")
	}
	return true
}

// ehlo answers EHLO with the extensions on offer: STARTTLS while the
// session is plain and a certificate is loaded, AUTH on a submission
// listener once it is encrypted.
func (ss *session) ehlo() {
	ext := []string{ss.p.greeting, "PIPELINING", "8BITMIME", "SIZE " + strconv.FormatInt(ss.p.databytes, 10)}
	if ss.c.tls == nil && ss.srv.tlsOffered() {
		ext = append(ext, "STARTTLS")
	}
	if ss.p.role.Submission && ss.srv.Auth != nil && ss.c.tls != nil && ss.login == "" {
		ext = append(ext, "AUTH PLAIN LOGIN")
	}
	for i, e := range ext {
		sep := "-"
		if i == len(ext)-1 {
			sep = " "
		}
		ss.reply("250" + sep + e)
	}
}

// starttls runs STARTTLS. It reports whether the session goes on.
func (ss *session) starttls(arg string) bool {
	switch {
	case ss.c.tls != nil:
		ss.reply("503 TLS is already on (#5.5.1)")
		return true
	case !ss.srv.tlsOffered():
		ss.reply("502 unimplemented (#5.5.1)")
		return true
	case arg != "":
		ss.reply("501 STARTTLS takes no argument (#5.5.4)")
		return true
	case ss.c.r.Buffered() > 0:
		// Commands pipelined after STARTTLS would be read as if they
		// came over TLS (CVE-2011-0411): refuse, and hang up.
		ss.reply("554 commands after STARTTLS before the handshake; closing (#5.5.1)")
		return false
	}
	ss.reply("220 ready to start TLS")
	if err := ss.c.flush(); err != nil {
		return false
	}
	if err := ss.c.startTLS(); err != nil {
		ss.srv.Log.Info("smtp %d: TLS handshake with %v failed: %v", ss.p.session, ss.p.remoteIP, err)
		return false
	}
	// RFC 3207: what was said before is forgotten; the client says EHLO
	// again.
	ss.helo = ""
	ss.reset()
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
	if ss.p.role.Submission && ss.login == "" {
		ss.reply("530 authentication required (#5.7.0)")
		return
	}
	addr, params, ok := parsePath(arg)
	if !ok {
		ss.reply("555 syntax error (#5.5.4)")
		return
	}
	if size, ok := params["SIZE"]; ok {
		if n, err := strconv.ParseInt(size, 10, 64); err == nil && n > ss.p.databytes {
			ss.reply("552 sorry, that message size exceeds my databytes limit (#5.3.4)")
			return
		}
	}
	if ss.login != "" && ss.srv.authConfig().RestrictSenders {
		ok, err := ss.ownsAddress(addr)
		switch {
		case err != nil:
			ss.srv.Log.Warning("smtp %d: unable to check the sender %q of %q: %v", ss.p.session, addr, ss.login, err)
			ss.reply("451 unable to check the sender address, try again later (#4.3.0)")
			return
		case !ok:
			ss.reply(fmt.Sprintf("553 sorry, you are not allowed to send as <%s> (#5.7.1)", safe(addr)))
			return
		}
	}
	ss.reset()
	ss.seenMail = true
	ss.sender = addr
	ss.badFrom = ss.p.badMailFrom.Matches(addr)
	ss.reply("250 ok")
}

func (ss *session) rcpt(arg string) {
	if !ss.seenMail {
		ss.reply("503 MAIL first (#5.5.1)")
		return
	}
	addr, _, ok := parsePath(arg)
	if !ok || addr == "" {
		// qmail takes an empty recipient; no mailbox has that name.
		ss.reply("555 syntax error (#5.5.4)")
		return
	}
	if ss.badFrom {
		ss.reply("553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)")
		return
	}
	switch {
	case ss.login != "":
		// An authenticated client relays; RELAYCLIENT's suffix is for
		// the clients it lets in, not for these.
	case ss.p.relay:
		addr += ss.p.relayAppend
	case !ss.allowed(addr):
		ss.reply("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
		return
	}
	if ss.seen[addr] {
		ss.reply("250 ok")
		return
	}
	if len(ss.rcpts) >= ss.srv.Config.MaxRecipients || ss.rcptBytes+len(addr) > maxRecipientBytes {
		ss.reply("452 sorry, too many recipients (#4.5.3)")
		return
	}
	if refusal := ss.verifyRecipient(addr); refusal != "" {
		ss.reply(refusal)
		return
	}
	ss.rcptBytes += len(addr)
	if ss.seen == nil {
		ss.seen = map[string]bool{}
	}
	ss.seen[addr] = true
	ss.rcpts = append(ss.rcpts, addr)
	ss.reply("250 ok")
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
		ss.reply("503 MAIL first (#5.5.1)")
		return true
	case len(ss.rcpts) == 0:
		ss.reply("503 RCPT first (#5.5.1)")
		return true
	}
	sender, rcpts := ss.sender, ss.rcpts
	ss.reset()
	draft, err := ss.srv.Queue.Begin(context.Background())
	if err != nil {
		ss.srv.Log.Warning("smtp %d: unable to start a message from %s: %v", ss.p.session, ss.p.remoteIP, err)
		ss.reply("451 qqt failure (#4.3.0)")
		return true
	}
	now := ss.srv.now()
	ss.reply("354 go ahead")
	// The client waits for this before it sends the data.
	if err := ss.c.flush(); err != nil {
		draft.Abort()
		return false
	}
	m := newMessageWriter(draft, ss.p.databytes)
	m.captureFrom = ss.login != "" && ss.srv.authConfig().RestrictSenders && ss.srv.authConfig().CheckFromHeader
	m.writeHeader(ss.received(now))
	ss.c.dataMode(true)
	err = readData(ss.c.r, m)
	ss.c.dataMode(false)
	ss.verb = "DATA"
	switch {
	case err != nil:
		draft.Abort()
		ss.end(err)
		return false
	case m.bareLF || m.bareCR:
		draft.Abort()
		ss.reply("451 See https://cr.yp.to/docs/smtplf.html.")
		return false
	case m.tooBig:
		draft.Abort()
		ss.reply("552 sorry, that message size exceeds my databytes limit (#5.3.4)")
		return true
	case m.hops >= hopLimit:
		draft.Abort()
		ss.reply("554 too many hops, this message is looping (#5.4.6)")
		return true
	}
	if err := m.flush(); err != nil {
		draft.Abort()
		ss.srv.Log.Warning("smtp %d: unable to queue message from %s: %v", ss.p.session, ss.p.remoteIP, err)
		ss.reply("451 qq write error or disk full (#4.3.0)")
		return true
	}
	if refusal := ss.checkFrom(m); refusal != "" {
		draft.Abort()
		ss.reply(refusal)
		return true
	}
	if f := ss.srv.Filter; f != nil {
		ctx, cancel := context.WithTimeout(context.Background(), f.Timeout+5*time.Second)
		err := f.run(ctx, draft, sender, rcpts)
		cancel()
		if err != nil {
			draft.Abort()
			why := err.Error()
			if cause := errors.Unwrap(err); cause != nil {
				why += " (" + cause.Error() + ")"
			}
			ss.srv.Log.Info("smtp %d: the queue filter refused a message from %s: %s", ss.p.session, ss.p.remoteIP, why)
			ss.reply(queueReply(err))
			return true
		}
	}
	msg := &store.NewMessage{
		Sender:     sender,
		Recipients: rcpts,
		Origin:     store.Origin{Kind: "smtp", RemoteIP: ss.p.remoteIP.String(), HELO: ss.helo, UID: -1},
	}
	id, err := draft.Commit(context.Background(), msg)
	if err != nil {
		ss.srv.Log.Warning("smtp %d: unable to queue message from %s: %v", ss.p.session, ss.p.remoteIP, err)
		ss.reply(queueReply(err))
		return true
	}
	ss.messages++
	ss.errors = 0
	ss.reply(fmt.Sprintf("250 ok %d qp %d", now.Unix(), id))
	return true
}

// queueReply answers a queue's or a filter's refusal as qmail-smtpd
// answers qmail-queue's: 554 and its text when it is permanent, 451 and
// its text when it says one, else qmail's 451 for a write error.
func queueReply(err error) string {
	var oe *outcome.Error
	switch {
	case outcome.IsPermanent(err):
		return "554 " + outcome.Text(err)
	case errors.As(err, &oe):
		return "451 " + outcome.Text(err)
	}
	return "451 qq write error or disk full (#4.3.0)"
}

// checkFrom returns the refusal for a message from an authenticated client
// whose From: field holds an address that is not the client's own.
func (ss *session) checkFrom(m *messageWriter) string {
	if !m.captureFrom {
		return ""
	}
	if m.fromOverflow {
		return "552 the From: field is too long to check (#5.7.1)"
	}
	bad, err := ss.checkFromHeader(m.fromFields())
	switch {
	case errors.Is(err, errFromUnparsable):
		return "554 the From: field cannot be parsed, so it cannot be checked (#5.7.1)"
	case err != nil:
		ss.srv.Log.Warning("smtp %d: unable to check the From: field for %q: %v", ss.p.session, ss.login, err)
		return "451 unable to check the From: field, try again later (#4.3.0)"
	case bad != "":
		return fmt.Sprintf("553 sorry, you are not allowed to send as <%s> in From: (#5.7.1)", safe(bad))
	}
	return ""
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
	b.WriteString(" with ")
	b.WriteString(ss.protocol())
	b.WriteString("; ")
	b.WriteString(date822.Format(now))
	b.WriteString("\n")
	return b.String()
}

// protocol is the Received line's "with": qmail's "SMTP" for a plain
// session, RFC 3848's ESMTPS, ESMTPA or ESMTPSA with TLS or AUTH, the
// TLS version and cipher in parentheses, as Postfix records them.
func (ss *session) protocol() string {
	switch {
	case ss.c.tls != nil && ss.login != "":
		return "ESMTPSA (" + ss.c.tlsSummary() + ")"
	case ss.c.tls != nil:
		return "ESMTPS (" + ss.c.tlsSummary() + ")"
	case ss.login != "":
		return "ESMTPA"
	}
	return "SMTP"
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
