package smtp

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/qlog"
)

// logBuffer is a log the test can read while the server writes it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fuzzTarget is a listener of the fuzzers' server.
type fuzzTarget struct {
	addr string
	role Role
}

// tlsMove is what a random session's client does about TLS.
type tlsMove uint8

const (
	// tlsNone sends everything in one burst, STARTTLS and what follows
	// it included (which the server refuses), and no handshake on an
	// implicit TLS listener: plain bytes where a ClientHello should be.
	tlsNone tlsMove = iota
	// tlsHandshake stops after the first STARTTLS and, once the server
	// says 220, shakes hands and sends the rest over TLS; on an
	// implicit TLS listener it shakes hands first.
	tlsHandshake
	// tlsGarbage stops after the first STARTTLS and, once the server
	// says 220, sends the rest in plain: garbage for the handshake.
	tlsGarbage
	tlsMoves
)

// sessionPlan is one random session: its bytes, the listener (an index
// into the targets) and what the client does about TLS.
type sessionPlan struct {
	raw      []byte
	half     bool
	listener int
	tls      tlsMove
}

// play sends p's bytes to a new session on target, doing the TLS of its
// plan on the way, half-closes the connection when told, and reads
// whatever comes back until the server hangs up or is quiet for a moment;
// then it hangs up itself.
func play(t testing.TB, target fuzzTarget, p sessionPlan) {
	nc, err := net.Dial("tcp", target.addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer nc.Close()
	var c net.Conn = nc
	raw := p.raw
	handshake := func() bool {
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			return false
		}
		tc.SetDeadline(time.Time{})
		c = tc
		return true
	}
	switch {
	case target.role.ImplicitTLS:
		if p.tls == tlsHandshake && !handshake() {
			return
		}
	case p.tls != tlsNone:
		const cmd = "STARTTLS\r\n"
		i := bytes.Index(raw, []byte(cmd))
		if i < 0 {
			break
		}
		head := raw[:i+len(cmd)]
		raw = raw[i+len(cmd):]
		nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Write(head); err != nil {
			return
		}
		if readyForTLS(nc) && p.tls == tlsHandshake && !handshake() {
			return
		}
	}
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	go func() {
		c.Write(raw)
		if p.half {
			switch hc := c.(type) {
			case *net.TCPConn:
				hc.CloseWrite()
			case *tls.Conn:
				hc.CloseWrite()
			}
		}
	}()
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// readyForTLS reads replies until the server's 220 to STARTTLS, which is
// the last thing it says in plain; false when it hangs up or is quiet
// for a moment first (STARTTLS was refused, or was data).
func readyForTLS(nc net.Conn) bool {
	// Byte by byte, so that nothing after the 220 line is taken from
	// the handshake.
	var line []byte
	b := make([]byte, 1)
	for {
		nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := nc.Read(b); err != nil {
			return false
		}
		line = append(line, b[0])
		if b[0] != '\n' {
			continue
		}
		if string(line) == "220 ready to start TLS\r\n" {
			nc.SetReadDeadline(time.Time{})
			return true
		}
		line = line[:0]
	}
}

// usable checks that the server still takes a whole message.
func usable(t testing.TB, f *fixture) {
	t.Helper()
	c, g := dial(t, f.addr)
	if !strings.HasPrefix(g, "220 ") {
		t.Fatalf("greeting after the bursts: %q", g)
	}
	c.do("HELO x\r\n")
	if got := send2(c, "s@x", "u@example.org", "ok\r\n.\r\n"); !strings.HasPrefix(got, "250 ok") {
		t.Fatalf("a message after the bursts: %q", got)
	}
}

func send2(c *client, from, to, data string) string {
	c.do("MAIL FROM:<" + from + ">\r\n")
	c.do("RCPT TO:<" + to + ">\r\n")
	if got := c.do("DATA\r\n"); !strings.HasPrefix(got, "354") {
		return got
	}
	return c.do(data)
}

// The pieces random sessions are made of: valid and invalid commands,
// BDAT (not offered), STARTTLS, AUTH with good and bad logins and its
// answers, addresses that are and are not the login's, data with dots
// and stray line ends.
var sessionWords = []string{
	"HELO x", "EHLO client.example", "MAIL FROM:<s@x>", "MAIL FROM:<>", "MAIL FROM:<s@x> SIZE=99999999999",
	"RCPT TO:<u@example.org>", "RCPT TO:<u@elsewhere.example>", "RCPT TO:<>", "RCPT TO:u", "RCPT TO:<\"q\\\"x\"@example.org>",
	"DATA", "BDAT 10 LAST", "BDAT 5", "STARTTLS", "STARTTLS x", "RSET", "NOOP", "VRFY u", "HELP", "QUIT",
	"", "mail", "rcpt to:", "data junk", ".", "..", ".\r", "Subject: x", "Received: x", "\x00\xff",
	"AUTH PLAIN AGFAAGI=", "AUTH PLAIN " + plain("alice", "right horse"), "AUTH PLAIN " + plain("alice", "wrong"),
	"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00right horse")), "AUTH PLAIN", "AUTH PLAIN =",
	"AUTH LOGIN", "AUTH LOGIN " + base64.StdEncoding.EncodeToString([]byte("alice")), "AUTH CRAM-MD5", "AUTH", "auth plain !!",
	base64.StdEncoding.EncodeToString([]byte("alice")), base64.StdEncoding.EncodeToString([]byte("right horse")),
	plain("alice", "right horse"), "*", "=",
	"MAIL FROM:<alice@example.org>", "MAIL FROM:<bob@example.org>", "RCPT TO:<alice@example.org>",
	"From: alice@example.org", "From: Bob <bob@example.org>",
}

// randomPlan makes one session from the seed, for one of the three
// listeners of newFuzzServer: half of them for the plain SMTP one. Many
// start by asking for TLS, and then some by logging in, so that what
// needs those (AUTH, mail on a submission listener) is reached often.
func randomPlan(r *rand.Rand) sessionPlan {
	p := sessionPlan{half: r.IntN(3) == 0, listener: []int{0, 0, 1, 2}[r.IntN(4)], tls: tlsMove(r.IntN(int(tlsMoves)))}
	var b bytes.Buffer
	if p.tls != tlsNone && r.IntN(4) != 0 {
		if p.listener != 2 { // not already encrypted
			b.WriteString("EHLO client.example\r\nSTARTTLS\r\n")
		}
		if r.IntN(2) == 0 {
			b.WriteString("EHLO client.example\r\nAUTH PLAIN " + plain("alice", "right horse") + "\r\n")
		}
	}
	ends := []string{"\r\n", "\r\n", "\r\n", "\n", "\r", "", "\r\r\n"}
	for range 1 + r.IntN(30) {
		switch r.IntN(10) {
		case 0:
			b.WriteString(strings.Repeat("x", r.IntN(5000)))
		case 1:
			b.WriteString(".\r\n")
		default:
			b.WriteString(sessionWords[r.IntN(len(sessionWords))])
		}
		b.WriteString(ends[r.IntN(len(ends))])
	}
	p.raw = b.Bytes()
	return p
}

// newFuzzServer serves on three listeners, all with a certificate, so
// that STARTTLS is offered: plain SMTP, submission (AUTH once encrypted,
// which mail needs) and submission with implicit TLS. Logins and failures
// cost nothing, so that random sessions can make many.
func newFuzzServer(tb testing.TB, log io.Writer) (*fixture, []fuzzTarget) {
	tb.Helper()
	cfg := tlsServer(tb)
	var extra []fuzzTarget
	var lns []net.Listener
	f := newFixtureFull(tb, basicControls, func(c *config.SMTP) {
		// Many sessions from one address at once, on purpose.
		c.MaxConnections, c.MaxConnectionsPerIP = 1000, 1000
	}, func(s *Server) {
		s.Log = qlog.New(log, "plain")
		s.TLS = cfg
		s.Auth = &passwords{m: map[string]string{"alice": "right horse"}}
		s.AuthConfig = &config.Auth{RestrictSenders: true, CheckFromHeader: true, MaxFailures: 1 << 30, FailureWindow: time.Minute}
		s.AuthFailureDelay = time.Millisecond
		s.Recipients = &mailboxes{m: map[string]string{"alice@example.org": "alice", "u@example.org": "u"}}
		s.AliasAccount = "alias"
		for _, role := range []Role{{Submission: true}, {Submission: true, ImplicitTLS: true}} {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				tb.Fatal(err)
			}
			lns = append(lns, l)
			extra = append(extra, fuzzTarget{addr: l.Addr().String(), role: role})
		}
	}, Role{})
	var wg sync.WaitGroup
	for i, l := range lns {
		wg.Go(func() { f.srv.ServeRole(l, extra[i].role) })
	}
	// Runs before the fixture's own cleanup, which waits only for its
	// own listener.
	tb.Cleanup(func() { f.srv.Close(); wg.Wait() })
	return f, append([]fuzzTarget{{addr: f.addr}}, extra...)
}

// Random pipelined sessions never make the server panic, and it serves
// normally after them. They reach the TLS handshake (good, and garbage
// after the 220) and AUTH (good and bad logins) on every kind of
// listener.
func TestRandomPipelinedSessions(t *testing.T) {
	log := &logBuffer{}
	f, targets := newFuzzServer(t, log)
	r := rand.New(rand.NewPCG(7, 11))
	var wg sync.WaitGroup
	for range 400 {
		p := randomPlan(r)
		wg.Go(func() { play(t, targets[p.listener], p) })
		if r.IntN(4) == 0 {
			wg.Wait() // sometimes one at a time, sometimes many at once
		}
	}
	wg.Wait()
	usable(t, f)
	f.srv.Close() // every session's end is logged
	text := log.String()
	var panics []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "panic") {
			panics = append(panics, line)
		}
	}
	if len(panics) > 0 {
		t.Fatalf("the server panicked %d times; the first:\n%s", len(panics), panics[0])
	}
	// The paths the sessions are meant to reach, so that a change of
	// the vocabulary or of the server cannot quietly leave them out.
	for _, want := range []string{
		"TLS handshake with 127.0.0.1 failed", // garbage after 220, or on the implicit TLS listener
		" tls TLSv1.3_",                       // a session that finished its handshake
		`authenticated "alice" from 127.0.0.1`,
		`AUTH failed for "alice" from 127.0.0.1`,
		"on " + targets[1].addr + " (submission)",
		"on " + targets[2].addr + " (submissions)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no session reached %q", want)
		}
	}
}

// FuzzSession sends any burst of bytes as one pipelined session, to the
// listener and with the TLS move that how picks.
func FuzzSession(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 24 {
		p := randomPlan(r)
		f.Add(p.raw, p.half, uint8(p.listener)+3*uint8(p.tls))
	}
	f.Add([]byte("HELO x\r\nQUIT\r\nMAIL FROM:<a@example.org>\r\n"), false, uint8(0))
	f.Add([]byte("HELO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n.\rX\r\n.\r\n"), true, uint8(0))
	f.Add([]byte("EHLO x\r\nSTARTTLS\r\nEHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\ncmlnaHQgaG9yc2U=\r\nMAIL FROM:<alice@example.org>\r\n"), false, uint8(1+3*tlsHandshake))
	f.Add([]byte("EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello"), false, uint8(0+3*tlsGarbage))
	// Every session logs its start and end: keep only panic lines, so
	// that the check costs the same at the ten thousandth input.
	log := &panicLines{}
	_, targets := newFuzzServer(f, log)
	f.Fuzz(func(t *testing.T, raw []byte, half bool, how uint8) {
		p := sessionPlan{raw: raw, half: half, listener: int(how) % len(targets), tls: tlsMove(int(how) / len(targets) % int(tlsMoves))}
		play(t, targets[p.listener], p)
		if panics := log.take(); panics != "" {
			t.Fatalf("the server panicked on %q (listener %d, TLS move %d):\n%s", raw, p.listener, p.tls, panics)
		}
	})
}

// panicLines keeps the log lines that tell of a panic.
type panicLines struct{ logBuffer }

// take returns the lines kept so far and forgets them, so that a panic is
// blamed on the input that caused it, not on every one after it.
func (p *panicLines) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.b.String()
	p.b.Reset()
	return s
}

func (p *panicLines) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("panic")) {
		return p.logBuffer.Write(b)
	}
	return len(b), nil
}
