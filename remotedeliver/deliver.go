package remotedeliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
)

// TLSPolicy says how STARTTLS is used.
type TLSPolicy struct {
	// Mode is "may" (use STARTTLS when offered, accept any certificate:
	// encryption against eavesdroppers, not against an attacker in the
	// middle), "verify" (when offered, the certificate must verify for
	// the host's name) or "never".
	Mode string
	// PlainFallback sends the message without TLS, on a new connection,
	// when the TLS handshake or the certificate check fails.
	PlainFallback bool
	// RootCAs verifies certificates in "verify" mode; nil means the
	// system's.
	RootCAs *x509.CertPool
}

// Deliverer delivers messages to remote hosts. Set the fields, then call
// Deliver from any number of goroutines.
type Deliverer struct {
	Controls *control.Dir
	Resolver *Resolver
	// Port is the SMTP port of mail exchangers and of routes that name
	// none; 25 when zero. Tests set it to reach peers as an ordinary user.
	Port int
	TLS  TLSPolicy
	// LocalAddrs are this host's addresses, for the best-MX check; the
	// interfaces' addresses when nil. Read at the first delivery.
	LocalAddrs []netip.Addr
	// Shuffle orders MX hosts of equal preference; math/rand when nil.
	Shuffle func(n int, swap func(i, j int))

	mineOnce sync.Once
	mine     map[netip.Addr]bool
}

func (d *Deliverer) port() int {
	if d.Port == 0 {
		return 25
	}
	return d.Port
}

// Result is what became of one recipient: the success report, or an
// *outcome.Error.
type Result struct {
	Report string
	Err    error
}

// Message is a message to send. Reader returns a new reader of the whole
// message, with LF line ends, each time it is called: each host tried
// reads it from its start.
type Message interface {
	Reader() io.Reader
}

// Bytes is a Message held in memory.
type Bytes []byte

// Reader returns a reader of b.
func (b Bytes) Reader() io.Reader { return bytes.NewReader(b) }

// Deliver sends body from sender to rcpt and returns the success report,
// or an *outcome.Error (see the package documentation).
func (d *Deliverer) Deliver(ctx context.Context, sender, rcpt string, body Message) (string, error) {
	r := d.DeliverGroup(ctx, sender, []string{rcpt}, body)[0]
	return r.Report, r.Err
}

// DeliverGroup sends body from sender to recipients that share one domain,
// in one SMTP transaction per host tried. Each recipient gets its own
// result from its own RCPT reply and the reply to the message; recipients
// that a host deferred are tried with the next host.
func (d *Deliverer) DeliverGroup(ctx context.Context, sender string, rcpts []string, body Message) []Result {
	results := make([]Result, len(rcpts))
	all := func(err error) []Result {
		for i := range results {
			results[i] = Result{Err: err}
		}
		return results
	}
	helo, ok := d.Controls.HeloHost()
	if !ok {
		return all(outcome.Temporary("Unable to read control files. (#4.3.0)"))
	}
	at := strings.LastIndexByte(rcpts[0], '@')
	if at < 0 {
		return all(outcome.Permanent("Sorry, address must include host name. (#5.1.3)"))
	}
	targets, err := d.targets(ctx, rcpts[0][at+1:])
	if err != nil {
		return all(err)
	}
	pending := make([]int, len(rcpts))
	for i := range pending {
		pending[i] = i
	}
	last := make([]error, len(rcpts))
	connected := false
	for _, t := range targets {
		if len(pending) == 0 {
			break
		}
		sub := make([]string, len(pending))
		for k, p := range pending {
			sub[k] = rcpts[p]
		}
		res, final, err := d.attempt(ctx, t, helo, sender, sub, body, d.TLS.Mode != "never")
		if errors.Is(err, errTLSFailed) && d.TLS.PlainFallback {
			res, final, err = d.attempt(ctx, t, helo, sender, sub, body, false)
		}
		if err != nil {
			// The session failed before any recipient was answered.
			if !errors.Is(err, errNoConnection) {
				connected = true
				for _, p := range pending {
					last[p] = err
				}
			}
			if final || outcome.IsPermanent(err) {
				for _, p := range pending {
					results[p] = Result{Err: err}
				}
				return results
			}
			if ctx.Err() != nil {
				// A dial cut short by the context is an errNoConnection,
				// not an *outcome.Error: it is reported below.
				break
			}
			continue
		}
		connected = true
		var still []int
		for k, p := range pending {
			r := res[k]
			if r.Err == nil || final || outcome.IsPermanent(r.Err) {
				results[p] = r
			} else {
				last[p], still = r.Err, append(still, p)
			}
		}
		pending = still
		if final || ctx.Err() != nil {
			break
		}
	}
	for _, p := range pending {
		if !connected || last[p] == nil {
			results[p] = Result{Err: outcome.Temporary("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)")}
		} else {
			results[p] = Result{Err: last[p]}
		}
	}
	return results
}

var (
	errNoConnection = errors.New("no connection")
	errTLSFailed    = errors.New("TLS failed")
)

// attempt runs one SMTP transaction with one host. err is a failure of the
// whole session before any recipient was answered; otherwise there is one
// result per recipient. final is set when no other host may be tried (the
// message may have arrived).
func (d *Deliverer) attempt(ctx context.Context, t target, helo, sender string, rcpts []string, body Message, useTLS bool) (res []Result, final bool, err error) {
	ip := t.addr.String()
	dialer := net.Dialer{Timeout: d.Controls.TimeoutConnect()}
	raw, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(t.port)))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errNoConnection, err)
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	conn := &watchedConn{Conn: raw}

	c := gosmtp.NewClient(conn)
	timeout := d.Controls.TimeoutRemote()
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	if err := c.Hello(helo); err != nil {
		if conn.written() == 0 {
			return nil, false, temporary(ip, fmt.Sprintf("Connected to %s but greeting failed.", ip), err)
		}
		return nil, false, temporary(ip, fmt.Sprintf("Connected to %s but my name was rejected.", ip), err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && useTLS {
		cfg := &tls.Config{ServerName: t.host, InsecureSkipVerify: d.TLS.Mode != "verify", RootCAs: d.TLS.RootCAs}
		tc, err := startTLS(conn, cfg, timeout)
		if err != nil {
			return nil, false, outcome.TemporaryErr(fmt.Errorf("%w: %w", errTLSFailed, err), "Connected to %s but STARTTLS failed: %v. (#4.7.5)", ip, err)
		}
		// What matters from now on is what goes into the TLS stream.
		conn = &watchedConn{Conn: tc}
		c = gosmtp.NewClient(conn)
		c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
		if err := c.Hello(helo); err != nil {
			return nil, false, temporary(ip, fmt.Sprintf("Connected to %s but my name was rejected after STARTTLS.", ip), err)
		}
	}
	if err := c.Mail(address.Quote(sender), nil); err != nil {
		return nil, false, classify(ip, fmt.Sprintf("Connected to %s but sender was rejected.", ip), err)
	}
	res = make([]Result, len(rcpts))
	var accepted []int
	for i, rcpt := range rcpts {
		err := c.Rcpt(address.Quote(rcpt), nil)
		var se *gosmtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case errors.As(err, &se) && se.Code >= 500:
			res[i].Err = outcome.PermanentErr(err, "%s does not like recipient.\nRemote host said: %s\nGiving up on %s.", ip, replyText(se), ip)
		case errors.As(err, &se):
			res[i].Err = classify(ip, fmt.Sprintf("%s does not like recipient.", ip), err)
		default:
			return nil, false, temporary(ip, "", err)
		}
	}
	if len(accepted) == 0 {
		return res, false, nil
	}
	// fail gives the accepted recipients the same failure.
	fail := func(err error, final bool) ([]Result, bool, error) {
		for _, i := range accepted {
			res[i].Err = err
		}
		return res, final, nil
	}
	w, err := c.Data()
	if err != nil {
		return fail(classify(ip, fmt.Sprintf("%s failed on DATA command.", ip), err), false)
	}
	cw := &crlfSafe{w: w}
	if _, err := io.Copy(cw, body.Reader()); err == nil {
		err = cw.end()
	}
	if err != nil {
		return fail(classify(ip, fmt.Sprintf("%s failed after I sent the message.", ip), err), false)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) && conn.sentFinalDot() {
			return fail(outcome.TemporaryErr(err, "Connected to %s but connection died. Possible duplicate! (#4.4.2)", ip), true)
		}
		return fail(classify(ip, fmt.Sprintf("%s failed after I sent the message.", ip), err), false)
	}
	// qmail-remote does not wait for the answer to QUIT.
	conn.SetDeadline(time.Now().Add(time.Second))
	c.Quit()
	report := fmt.Sprintf("%s accepted message.\nRemote host said: 250 %s\n", ip, resp.StatusText)
	for _, i := range accepted {
		res[i].Report = report
	}
	return res, false, nil
}

// classify turns a failed command into qmail-remote's report: a 5xx reply
// is permanent, a 4xx reply or a lost connection temporary.
func classify(ip, what string, err error) error {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return outcome.PermanentErr(err, "%s\nRemote host said: %s", what, replyText(se))
	}
	return temporary(ip, what, err)
}

// temporary reports a 4xx reply with the host's words, and anything else
// (a lost connection, a timeout) in qmail-remote's words.
func temporary(ip, what string, err error) error {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return outcome.TemporaryErr(err, "%s\nRemote host said: %s", what, replyText(se))
	}
	return outcome.TemporaryErr(err, "Connected to %s but connection died. (#4.4.2)", ip)
}

// replyText puts a reply back together as the host sent it.
func replyText(se *gosmtp.SMTPError) string {
	msg := strings.ReplaceAll(se.Message, "\n", " ")
	if se.EnhancedCode != gosmtp.EnhancedCodeNotSet && se.EnhancedCode != gosmtp.NoEnhancedCode {
		e := se.EnhancedCode
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, e[0], e[1], e[2], msg)
	}
	return fmt.Sprintf("%d %s", se.Code, msg)
}

// watchedConn remembers what was written, to tell a failed greeting from a
// rejected EHLO, and a connection lost before the final dot from one lost
// after it.
type watchedConn struct {
	net.Conn
	mu   sync.Mutex
	n    int
	tail []byte
}

func (c *watchedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.n += n
	c.tail = append(c.tail, p[:n]...)
	if len(c.tail) > 5 {
		c.tail = c.tail[len(c.tail)-5:]
	}
	c.mu.Unlock()
	return n, err
}

func (c *watchedConn) written() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *watchedConn) sentFinalDot() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Equal(c.tail, []byte("\r\n.\r\n"))
}

// crlfSafe turns a lone CR into CRLF, as notqmail's qmail-remote does, so
// that every line reaches the host ended by CRLF. (The DATA writer turns
// LF into CRLF and leaves CRLF alone; only a lone CR would get through.)
// It works on a stream: a CR at the end of one write waits for the next.
type crlfSafe struct {
	w   io.Writer
	cr  bool // the last byte written was a CR
	out []byte
}

func (c *crlfSafe) Write(p []byte) (int, error) {
	if !c.cr && bytes.IndexByte(p, '\r') < 0 {
		return c.w.Write(p)
	}
	c.out = c.out[:0]
	for _, b := range p {
		if c.cr && b != '\n' {
			c.out = append(c.out, '\n')
		}
		c.out = append(c.out, b)
		c.cr = b == '\r'
	}
	if _, err := c.w.Write(c.out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// end finishes a message that ended in a lone CR.
func (c *crlfSafe) end() error {
	if !c.cr {
		return nil
	}
	c.cr = false
	_, err := c.w.Write([]byte{'\n'})
	return err
}
