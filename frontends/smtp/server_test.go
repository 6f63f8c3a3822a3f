package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// recorder is a Queue that keeps what it is given, or fails as told.
type recorder struct {
	mu      sync.Mutex
	msgs    []*store.NewMessage
	fail    error
	aborted int
}

func (r *recorder) Begin(context.Context) (Draft, error) { return &recorded{r: r}, nil }

// recorded is a draft held in memory.
type recorded struct {
	r   *recorder
	buf bytes.Buffer
}

func (d *recorded) Write(p []byte) (int, error) { return d.buf.Write(p) }

func (d *recorded) Commit(_ context.Context, m *store.NewMessage) (store.MsgID, error) {
	r := d.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	m.Body = d.buf.Bytes()
	r.msgs = append(r.msgs, m)
	return store.MsgID(len(r.msgs)), nil
}

func (d *recorded) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(d.buf.Bytes())), nil
}

func (d *recorded) Abort() {
	d.r.mu.Lock()
	d.r.aborted++
	d.r.mu.Unlock()
}

func (r *recorder) all() []*store.NewMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*store.NewMessage(nil), r.msgs...)
}

type fixture struct {
	srv     *Server
	queue   *recorder
	addr    string
	control string
}

// newFixture serves SMTP on a loopback port with the given control files;
// relayFrom lists the networks that may relay (none by default).
func newFixture(t testing.TB, controls map[string]string, relayFrom ...string) *fixture {
	t.Helper()
	return newFixtureWith(t, controls, nil, relayFrom...)
}

// newFixtureWith is newFixture with tweak applied to the SMTP settings
// before the server starts.
func newFixtureWith(t testing.TB, controls map[string]string, tweak func(*config.SMTP), relayFrom ...string) *fixture {
	t.Helper()
	return newFixtureFull(t, controls, tweak, nil, Role{}, relayFrom...)
}

// newFixtureFull is newFixtureWith with setup applied to the server
// before it serves, in role.
func newFixtureFull(t testing.TB, controls map[string]string, tweak func(*config.SMTP), setup func(*Server), role Role, relayFrom ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, text := range controls {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	toml := filepath.Join(t.TempDir(), "qmail.toml")
	q := make([]string, len(relayFrom))
	for i, r := range relayFrom {
		q[i] = fmt.Sprintf("%q", r)
	}
	os.WriteFile(toml, []byte("[smtp]\nrelay_from = ["+strings.Join(q, ",")+"]\n"), 0o644)
	cfg, err := config.Load(toml, config.Defaults(false))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(&cfg.SMTP)
	}
	ctl := control.Open(dir, func(err error) { t.Log(err) })
	f := &fixture{queue: &recorder{}, control: dir}
	f.srv = &Server{
		Controls: ctl,
		Config:   &cfg.SMTP,
		Router:   &route.Router{Controls: ctl},
		Queue:    f.queue,
		Log:      qlog.New(io.Discard, "plain"),
		Now:      func() time.Time { return time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC) },
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	if setup != nil {
		setup(f.srv)
	}
	done := make(chan struct{})
	go func() { f.srv.ServeRole(l, role); close(done) }()
	t.Cleanup(func() { f.srv.Close(); <-done })
	return f
}

var basicControls = map[string]string{
	"me":        "mx.example.org\n",
	"locals":    "localhost\nexample.org\n",
	"rcpthosts": "localhost\nexample.org\n.heaven.af.mil\n",
}

type client struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) (*client, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	return cl, cl.reply()
}

func (c *client) reply() string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return "EOF: " + err.Error()
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (c *client) do(raw string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.c, raw); err != nil {
		return "EOF: " + err.Error()
	}
	return c.reply()
}

func TestGreetingFollowsSMTPGreetingLive(t *testing.T) {
	f := newFixture(t, basicControls)
	if _, g := dial(t, f.addr); g != "220 mx.example.org ESMTP" {
		t.Fatalf("greeting from me: %q", g)
	}
	os.WriteFile(filepath.Join(f.control, "smtpgreeting"), []byte("mail.example.org gqmail\n"), 0o644)
	if _, g := dial(t, f.addr); g != "220 mail.example.org gqmail ESMTP" {
		t.Fatalf("greeting after smtpgreeting was written: %q", g)
	}
}

func TestSessionsBeyondMaxConnectionsGet421(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) { c.MaxConnections = 2 })
	var open []*client
	for range 2 {
		c, g := dial(t, f.addr)
		if !strings.HasPrefix(g, "220 ") {
			t.Fatalf("greeting within the limit: %q", g)
		}
		open = append(open, c)
	}
	if _, g := dial(t, f.addr); g != "421 too many connections, try again later (#4.3.2)" {
		t.Fatalf("greeting over the limit: %q", g)
	}
	open[0].do("QUIT\r\n")
	open[0].c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, g := dial(t, f.addr)
		if strings.HasPrefix(g, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a place was not given back: %q", g)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRcpthostsDecideWhoIsAccepted(t *testing.T) {
	f := newFixture(t, basicControls)
	c, _ := dial(t, f.addr)
	c.do("HELO client.example\r\n")
	c.do("MAIL FROM:<s@sender.example>\r\n")
	cases := []struct{ rcpt, want string }{
		{"u@example.org", "250"},
		{"u@EXAMPLE.ORG", "250"},
		{"u@x.heaven.af.mil", "250"},
		{"u@heaven.af.mil", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
		{"u@.heaven.af.mil", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
		{"u@elsewhere.example", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
		{"u@example.org.evil.example", "553"},
	}
	for _, tc := range cases {
		if got := c.do("RCPT TO:<" + tc.rcpt + ">\r\n"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("RCPT %s: %q, want %q", tc.rcpt, got, tc.want)
		}
	}
}

func TestBadMailFromRefusedAtRcpt(t *testing.T) {
	f := newFixture(t, controlsWith("badmailfrom", "spammer@bad.example\n@worse.example\n"))
	for _, sender := range []string{"spammer@bad.example", "SPAMMER@bad.example", "anyone@worse.example"} {
		c, _ := dial(t, f.addr)
		c.do("HELO x\r\n")
		if got := c.do("MAIL FROM:<" + sender + ">\r\n"); !strings.HasPrefix(got, "250") {
			t.Fatalf("MAIL %s: %q", sender, got)
		}
		if got := c.do("RCPT TO:<u@example.org>\r\n"); got != "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)" {
			t.Errorf("RCPT after MAIL %s: %q", sender, got)
		}
	}
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	c.do("MAIL FROM:<fine@bad.example>\r\n")
	if got := c.do("RCPT TO:<u@example.org>\r\n"); !strings.HasPrefix(got, "250") {
		t.Errorf("an unlisted sender was refused: %q", got)
	}
}

func send(t *testing.T, c *client, from, to, data string) string {
	t.Helper()
	c.do("MAIL FROM:<" + from + ">\r\n")
	c.do("RCPT TO:<" + to + ">\r\n")
	if got := c.do("DATA\r\n"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA: %q", got)
	}
	return c.do(data)
}

func TestAcceptedMessageIsQueuedInStoredForm(t *testing.T) {
	f := newFixture(t, basicControls)
	c, _ := dial(t, f.addr)
	c.do("HELO client.example\r\n")
	got := send(t, c, "s@sender.example", "u@example.org", "Subject: hi\r\n\r\n..dot\r\nline\r\n.\r\n")
	if got != "250 ok 1795568523 qp 1" {
		t.Fatalf("end of data: %q", got)
	}
	msgs := f.queue.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	m := msgs[0]
	wantBody := "Received: from unknown (HELO client.example) (127.0.0.1)\n  by mx.example.org with SMTP; 25 Nov 2026 01:02:03 -0000\nSubject: hi\n\n.dot\nline\n"
	if string(m.Body) != wantBody {
		t.Fatalf("stored body:\n%q\nwant\n%q", m.Body, wantBody)
	}
	if m.Sender != "s@sender.example" || len(m.Recipients) != 1 || m.Recipients[0] != "u@example.org" || m.Origin.RemoteIP != "127.0.0.1" {
		t.Fatalf("envelope: %+v", m)
	}
}

func TestHopLimit(t *testing.T) {
	f := newFixture(t, basicControls)
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	data := strings.Repeat("Received: hop\r\n", 100) + "\r\nbody\r\n.\r\n"
	if got := send(t, c, "s@x", "u@example.org", data); got != "554 too many hops, this message is looping (#5.4.6)" {
		t.Fatalf("100 hops: %q", got)
	}
	data = strings.Repeat("Received: hop\r\n", 99) + "\r\nbody\r\n.\r\n"
	if got := send(t, c, "s@x", "u@example.org", data); !strings.HasPrefix(got, "250") {
		t.Fatalf("99 hops: %q", got)
	}
}

func TestQueueFailureIsTemporary(t *testing.T) {
	f := newFixture(t, basicControls)
	f.queue.fail = errors.New("no space left on device")
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	if got := send(t, c, "s@x", "u@example.org", "x\r\n.\r\n"); got != "451 qq write error or disk full (#4.3.0)" {
		t.Fatalf("store failure: %q", got)
	}
	f.queue.fail = outcome.Permanent("Sorry, that message size exceeds my databytes limit. (#5.3.4)")
	if got := send(t, c, "s@x", "u@example.org", "x\r\n.\r\n"); !strings.HasPrefix(got, "554 Sorry") {
		t.Fatalf("permanent queue refusal: %q", got)
	}
}

func TestRelayFromAllowsAnyDomain(t *testing.T) {
	f := newFixture(t, basicControls, "127.0.0.0/8")
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	if got := send(t, c, "s@x", "u@elsewhere.example", "x\r\n.\r\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("relay client: %q", got)
	}
	if m := f.queue.all(); len(m) != 1 || m[0].Recipients[0] != "u@elsewhere.example" {
		t.Fatalf("queued %+v", m)
	}
}

// With RELAYCLIENT set, a stdin/stdout session may relay, and the value
// is appended to each recipient as qmail-smtpd does.
func TestStdioRelayClientAppends(t *testing.T) {
	f := newFixture(t, basicControls)
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	env := map[string]string{"RELAYCLIENT": "@relay.example", "TCPREMOTEIP": "192.0.2.9", "TCPREMOTEINFO": "ident"}
	sc := NewStdioConn(inR, outW, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeConn(sc) }()
	c := &client{t: t, c: pipeConn{outR, inW}, r: bufio.NewReader(outR)}
	if g := c.reply(); g != "220 mx.example.org ESMTP" {
		t.Fatalf("greeting: %q", g)
	}
	c.do("HELO x\r\n")
	c.do("MAIL FROM:<s@x>\r\n")
	if got := c.do("RCPT TO:<u>\r\n"); got != "250 ok" {
		// qmail takes an address without a domain; envnoathost is
		// added when it is queued.
		t.Errorf("RCPT without a domain: %q", got)
	}
	c.do("RSET\r\n")
	if got := send(t, c, "s@x", "u@elsewhere.example", "x\r\n.\r\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("relayed: %q", got)
	}
	c.do("QUIT\r\n")
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m := f.queue.all()
	if len(m) != 1 || m[0].Recipients[0] != "u@elsewhere.example@relay.example" || m[0].Origin.RemoteIP != "192.0.2.9" {
		t.Fatalf("queued %+v", m)
	}
	// TCPREMOTEINFO goes before the address, as qmail-smtpd writes it.
	if !strings.Contains(string(m[0].Body), "(ident@192.0.2.9)\n  by ") {
		t.Fatalf("Received line: %q", m[0].Body)
	}
}

type pipeConn struct {
	r *os.File
	w *os.File
}

func (p pipeConn) Read(b []byte) (int, error)         { return p.r.Read(b) }
func (p pipeConn) Write(b []byte) (int, error)        { return p.w.Write(b) }
func (p pipeConn) Close() error                       { return errors.Join(p.r.Close(), p.w.Close()) }
func (p pipeConn) LocalAddr() net.Addr                { return stdioAddr("test") }
func (p pipeConn) RemoteAddr() net.Addr               { return stdioAddr("test") }
func (p pipeConn) SetDeadline(t time.Time) error      { return nil }
func (p pipeConn) SetReadDeadline(t time.Time) error  { return nil }
func (p pipeConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzRcptPath sends any RCPT argument through the parser and the
// rcpthosts check: the server must answer, stay usable, and queue only
// recipients at the fixture's rcpthosts, judged here by the fixture's own
// list, not by the code under test.
func FuzzRcptPath(f *testing.F) {
	for _, s := range []string{"<u@example.org>", "<u@elsewhere.example>", "<\"a b\"@example.org>", "<@route:u@example.org>",
		"<>", "u@example.org", "<u@x.heaven.af.mil> SIZE=10", "<u@[127.0.0.1]>", "<u@example.org.>", "<\x00@example.org>",
		"<u@example.org\\>@evil.example>", "<\"u@evil.example\"@example.org>", "0@.heAvEn.Af.mil"} {
		f.Add(s)
	}
	fx := newFixture(f, basicControls)
	f.Fuzz(func(t *testing.T, arg string) {
		if strings.ContainsAny(arg, "\r\n") {
			return
		}
		c, _ := dial(t, fx.addr)
		c.do("HELO x\r\n")
		c.do("MAIL FROM:<s@x>\r\n")
		got := c.do("RCPT TO:" + arg + "\r\n")
		if strings.HasPrefix(got, "250") {
			data := c.do("DATA\r\n")
			if !strings.HasPrefix(data, "354") {
				t.Fatalf("DATA after accepted RCPT %q: %q", arg, data)
			}
			if end := c.do("x\r\n.\r\n"); !strings.HasPrefix(end, "250") {
				t.Fatalf("end of data: %q", end)
			}
			msgs := fx.queue.all()
			rc := msgs[len(msgs)-1].Recipients[0]
			if rc == "" || !inFixtureRcptHosts(rc) {
				t.Fatalf("RCPT %q accepted recipient %q", arg, rc)
			}
		}
		if noop := c.do("NOOP\r\n"); !strings.HasPrefix(noop, "250") {
			t.Fatalf("after RCPT %q (%q) the session is broken: %q", arg, got, noop)
		}
	})
}

// inFixtureRcptHosts is basicControls' rcpthosts, spelled out: localhost,
// example.org and anything under .heaven.af.mil; an address without "@"
// is for this host.
func inFixtureRcptHosts(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return true
	}
	d := strings.ToLower(addr[at+1:])
	return d == "localhost" || d == "example.org" || (strings.HasSuffix(d, ".heaven.af.mil") && len(d) > len(".heaven.af.mil"))
}
