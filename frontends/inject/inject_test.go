package inject

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

type fixture struct {
	db   *store.DB
	sock string
	srv  *Server
}

func serve(t *testing.T, trusted []int, maxBytes int64, tweak ...func(*Server)) *fixture {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "me"), []byte("mx.example.org\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "locals"), []byte("localhost\n"), 0o644)
	ctl := control.Open(dir, nil)
	db, err := store.Open(filepath.Join(t.TempDir(), "queue.db"), store.Options{Route: (&route.Router{Controls: ctl}).Route})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "inject.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Queue: db, Log: qlog.New(io.Discard, "plain"),
		TrustedUIDs: trusted, MaxMessageBytes: maxBytes,
		Now: func() time.Time { return time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC) },
	}
	for _, fn := range tweak {
		fn(s)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() { l.Close(); s.CloseConns(); <-done; db.Close() })
	return &fixture{db: db, sock: sock, srv: s}
}

// queued returns the envelopes and bodies in the queue, in order.
func (f *fixture) queued(t *testing.T) ([]store.Envelope, []string) {
	t.Helper()
	envs, err := f.db.List(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, e := range envs {
		b, err := f.db.Body(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	return envs, bodies
}

func testMessage(kind string) *store.NewMessage {
	return &store.NewMessage{
		Sender:     "s@example.org",
		Origin:     store.Origin{Kind: kind, RemoteIP: "192.0.2.1", HELO: "client"},
		Body:       []byte("Subject: x\n\nbody\n"),
		Recipients: []string{"u@localhost", "v@far.example"},
	}
}

func TestTrustedSubmitterKeepsItsSMTPOrigin(t *testing.T) {
	f := serve(t, []int{os.Getuid()}, 1<<20)
	c := &submission.Client{Path: f.sock, Kind: submission.KindSMTP}
	defer c.Close()
	for range 2 { // two submissions on one connection
		if _, err := c.Accept(context.Background(), testMessage("smtp")); err != nil {
			t.Fatal(err)
		}
	}
	envs, bodies := f.queued(t)
	if len(envs) != 2 {
		t.Fatalf("%d messages queued", len(envs))
	}
	if o := envs[0].Origin; o.Kind != "smtp" || o.RemoteIP != "192.0.2.1" || o.HELO != "client" {
		t.Fatalf("origin %+v", o)
	}
	if bodies[0] != "Subject: x\n\nbody\n" {
		t.Fatalf("a trusted submission's body changed: %q", bodies[0])
	}
	rs, _ := f.db.Recipients(envs[0].ID)
	if rs[0].Channel != route.Local || rs[1].Channel != route.Remote {
		t.Fatalf("the daemon did not route the recipients: %+v", rs)
	}
}

// A trusted uid injecting locally (root running sendmail) gets the trace
// line too, as qmail writes it for uid 0.
func TestTrustedLocalSubmissionHasATraceLine(t *testing.T) {
	f := serve(t, []int{os.Getuid()}, 1<<20)
	c := &submission.Client{Path: f.sock}
	defer c.Close()
	if _, err := c.Accept(context.Background(), testMessage("local")); err != nil {
		t.Fatal(err)
	}
	_, bodies := f.queued(t)
	if !strings.HasPrefix(bodies[0], "Received: (qmail ") || !strings.Contains(bodies[0], " invoked by uid "+strconv.Itoa(os.Getuid())+"); ") {
		t.Fatalf("no trace line: %q", bodies[0])
	}
}

// Recipients are checked as they arrive and charged what they cost: an
// empty one, or more than MaxRecipients, is refused at commit and the
// rest are not kept, so no stream of recipients can make the daemon hold
// more than the budget. The connection goes on.
func TestRecipientsAreBoundedAsTheyArrive(t *testing.T) {
	f := serve(t, nil, 1<<20)
	c := &submission.Client{Path: f.sock}
	defer c.Close()
	m := testMessage("local")
	m.Recipients = []string{"u@localhost", ""}
	if _, err := c.Accept(context.Background(), m); !outcome.IsPermanent(err) || !strings.Contains(err.Error(), "a recipient is empty") {
		t.Fatalf("an empty recipient: %v", err)
	}
	m.Recipients = make([]string, submission.MaxRecipients+1)
	for i := range m.Recipients {
		m.Recipients[i] = "a"
	}
	if _, err := c.Accept(context.Background(), m); !outcome.IsPermanent(err) || !strings.Contains(err.Error(), "at most 100000 recipients") {
		t.Fatalf("too many recipients: %v", err)
	}
	if envs, _ := f.queued(t); len(envs) != 0 {
		t.Fatalf("%d queued", len(envs))
	}
	m.Recipients = []string{"u@localhost"}
	if _, err := c.Accept(context.Background(), m); err != nil {
		t.Fatalf("the next submission: %v", err)
	}
}

// Anyone else is recorded by uid, whatever origin they claim, and their
// message starts with qmail-queue's trace line naming that uid.
func TestUntrustedSubmitterIsRecordedByUID(t *testing.T) {
	f := serve(t, nil, 1<<20)
	c := &submission.Client{Path: f.sock}
	defer c.Close()
	m := testMessage("smtp")
	m.Body = []byte("Received: from forged.example by mx.example.org\nSubject: x\n\nbody\n")
	if _, err := c.Accept(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	envs, bodies := f.queued(t)
	if o := envs[0].Origin; o.Kind != "local" || o.UID != os.Getuid() || o.RemoteIP != "" {
		t.Fatalf("an untrusted claim of SMTP origin was kept: %+v", o)
	}
	first, _, _ := strings.Cut(bodies[0], "\n")
	want := "Received: (qmail " // then the submitter's pid
	tail := " invoked by uid " + strconv.Itoa(os.Getuid()) + "); 2 Dec 2026 03:04:05 -0000"
	if !strings.HasPrefix(first, want) || !strings.HasSuffix(first, tail) {
		t.Fatalf("first line %q, want qmail-queue's trace line for uid %d", first, os.Getuid())
	}
	if !strings.Contains(bodies[0], "\nReceived: from forged.example") {
		t.Fatalf("the submitter's own lines are gone: %q", bodies[0])
	}
}

func TestOversizedSubmissionIsRefusedPermanently(t *testing.T) {
	f := serve(t, nil, 10)
	c := &submission.Client{Path: f.sock}
	defer c.Close()
	_, err := c.Accept(context.Background(), testMessage("local"))
	if envs, _ := f.queued(t); !outcome.IsPermanent(err) || len(envs) != 0 {
		t.Fatalf("oversized submission: %v, %d queued", err, len(envs))
	}
	// The connection goes on.
	f.srv.MaxMessageBytes = 1 << 20
	if _, err := c.Accept(context.Background(), testMessage("local")); err != nil {
		t.Fatalf("the next submission: %v", err)
	}
}

// A large message goes out in data frames and into a body file, never
// into one frame.
func TestLargeSubmissionIsStreamed(t *testing.T) {
	f := serve(t, []int{os.Getuid()}, 8<<20)
	c := &submission.Client{Path: f.sock, Kind: submission.KindSMTP}
	defer c.Close()
	m := testMessage("smtp")
	m.Body = bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 64<<10)
	if _, err := c.Accept(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	envs, bodies := f.queued(t)
	if len(envs) != 1 || envs[0].BodyFile == "" || bodies[0] != string(m.Body) {
		t.Fatalf("queued %d messages, body file %q, body of %d bytes", len(envs), envs[0].BodyFile, len(bodies[0]))
	}
}

// Addresses with a CR, LF or NUL are refused: they would become header
// lines of their own in a bounce.
func TestAddressesWithLineEndsAreRefused(t *testing.T) {
	f := serve(t, nil, 1<<20)
	c := &submission.Client{Path: f.sock}
	defer c.Close()
	for _, bad := range []func(*store.NewMessage){
		func(m *store.NewMessage) { m.Sender = "a@b\nBcc: victim@example.org" },
		func(m *store.NewMessage) { m.Sender = "a@b\r" },
		func(m *store.NewMessage) { m.Recipients[1] = "v@far.example\x00" },
	} {
		m := testMessage("local")
		bad(m)
		if _, err := c.Accept(context.Background(), m); !outcome.IsPermanent(err) {
			t.Errorf("%+v: %v, want a permanent refusal", m, err)
		}
	}
	if envs, _ := f.queued(t); len(envs) != 0 {
		t.Fatalf("%d messages queued", len(envs))
	}
}

// holdConns opens n connections to the socket and reads each one's
// greeting, which the daemon sends only once it has counted it; each must
// be "go ahead".
func holdConns(t *testing.T, sock string, n int) []net.Conn {
	t.Helper()
	var held []net.Conn
	for i := range n {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		hello, err := frame.Read(bufio.NewReader(c))
		if err != nil || len(hello) != 3 || string(hello[0]) != submission.TagHello || string(hello[1]) != "K" {
			t.Fatalf("connection %d of %d to hold: greeting %q, %v", i+1, n, hello, err)
		}
		held = append(held, c)
	}
	return held
}

// One uid cannot hold more than its share of connections, nor everyone
// together more than the total. With one uid at hand, the total is
// reached by setting the share above it; TestCapsCountEachUIDAndEveryone
// counts several uids.
func TestSubmissionConnectionsAreCapped(t *testing.T) {
	for _, tc := range []struct {
		name          string
		perUID, total int
		refusal       string
	}{
		{"one uid's share", 2, 5, "Too many submissions from uid " + strconv.Itoa(os.Getuid()) + " under way"},
		{"everyone's total", 10, 3, "Too many submissions under way"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := serve(t, nil, 1<<20, func(s *Server) { s.MaxConnsPerUID, s.MaxConns = tc.perUID, tc.total })
			held := holdConns(t, f.sock, min(tc.perUID, tc.total))
			c := &submission.Client{Path: f.sock}
			defer c.Close()
			_, err := c.Accept(context.Background(), testMessage("local"))
			if err == nil || outcome.IsPermanent(err) {
				t.Fatalf("a connection over the cap: %v, want a temporary refusal", err)
			}
			// The greeting says so before the client sends anything, so
			// that sendmail can use the pickup directory instead.
			if !errors.Is(err, submission.ErrBusy) || !strings.Contains(err.Error(), tc.refusal) {
				t.Fatalf("refusal: %v, want ErrBusy saying %q", err, tc.refusal)
			}
			for _, h := range held {
				h.Close()
			}
			c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, err = c.Accept(context.Background(), testMessage("local")); err == nil || time.Now().After(deadline) {
					break
				}
				c.Close()
				time.Sleep(10 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("after the others left: %v", err)
			}
		})
	}
}

// The caps count connections by uid and all together: a uid at its share
// is refused while another may still come in, up to the total, which then
// refuses a uid below its share; trusted uids are not counted; a place
// given back is taken again.
func TestCapsCountEachUIDAndEveryone(t *testing.T) {
	s := &Server{MaxConnsPerUID: 2, MaxConns: 3}
	conn := func() net.Conn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a
	}
	a1, a2, a3, b1, b2, r1 := conn(), conn(), conn(), conn(), conn(), conn()
	steps := []struct {
		c       net.Conn
		uid     int
		trusted bool
		want    string // "" admits
	}{
		{a1, 1001, false, ""},
		{a2, 1001, false, ""},
		{a3, 1001, false, "Too many submissions from uid 1001 under way"},
		{b1, 1002, false, ""},
		{b2, 1002, false, "Too many submissions under way"}, // uid 1002 holds 1 of its 2
		{r1, 0, true, ""},
	}
	for i, st := range steps {
		got := s.enter(st.c, st.uid, st.trusted)
		if (st.want == "") != (got == "") || !strings.Contains(got, st.want) {
			t.Fatalf("step %d, uid %d: enter = %q, want %q", i+1, st.uid, got, st.want)
		}
	}
	s.leave(a1, 1001)
	if got := s.enter(b2, 1002, false); got != "" {
		t.Fatalf("after uid 1001 gave a place back, uid 1002: %q", got)
	}
	if got := s.enter(a3, 1001, false); !strings.Contains(got, "Too many submissions under way") {
		t.Fatalf("at the total again, uid 1001: %q", got)
	}
}

// The limits a local submitter is held to when the daemon sets none.
func TestSubmissionLimitDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want any
		reason    string
	}{
		{"DefaultMaxConns", DefaultMaxConns, 100, "submitters at once; one more is greeted Z and sendmail uses the pickup directory"},
		{"DefaultMaxConnsPerUID", DefaultMaxConnsPerUID, 10, "one uid's share, so one local user cannot take every place"},
		{"DefaultFrameTimeout", DefaultFrameTimeout, 20 * time.Minute, "each frame must arrive within it"},
		{"DefaultMaxConnTime", DefaultMaxConnTime, time.Hour, "a connection is closed after it"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v: %s", tc.name, tc.got, tc.want, tc.reason)
		}
	}
}

// A client of another protocol version (an older sendmail during an
// upgrade) is greeted, then refused permanently with the version this
// daemon speaks, and nothing it sent is queued.
func TestUnknownProtocolIsRefused(t *testing.T) {
	f := serve(t, nil, 1<<20)
	conn, err := net.Dial("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	frame.Write(w, []byte("submit/2"))
	frame.Write(w, []byte("data"), []byte("Subject: old\n\nx\n"))
	frame.Write(w, []byte("rcpt"), []byte("r@example.org"))
	frame.Write(w, []byte("commit"), []byte("s@example.org"), []byte("local"), nil, nil)
	hello, err := frame.Read(r)
	if err != nil || len(hello) != 3 || string(hello[0]) != submission.TagHello || string(hello[1]) != "K" {
		t.Fatalf("greeting %q, %v", hello, err)
	}
	resp, err := frame.Read(r)
	if err != nil || len(resp) != 4 || string(resp[1]) != "D" || !strings.Contains(string(resp[2]), submission.TagSubmit) {
		t.Fatalf("answer %q, %v", resp, err)
	}
	if envs, _ := f.queued(t); len(envs) != 0 {
		t.Fatalf("%d messages queued", len(envs))
	}
}

func TestNoDaemonIsTemporary(t *testing.T) {
	c := &submission.Client{Path: filepath.Join(t.TempDir(), "none.sock")}
	_, err := c.Accept(context.Background(), testMessage("local"))
	if err == nil || outcome.IsPermanent(err) {
		t.Fatalf("no daemon: %v", err)
	}
}

// qmaild smtpd runs as a trusted uid under tcpserver, which bounds its
// connections: the caps do not count it, so local users cannot starve it.
func TestTrustedSubmittersAreNotCapped(t *testing.T) {
	f := serve(t, []int{os.Getuid()}, 1<<20, func(s *Server) { s.MaxConnsPerUID = 1; s.MaxConns = 1 })
	for i := range 3 {
		c := &submission.Client{Path: f.sock} // each keeps its connection open
		defer c.Close()
		if _, err := c.Accept(context.Background(), testMessage("smtp")); err != nil {
			t.Fatalf("trusted connection %d: %v", i+1, err)
		}
	}
}

// A thousand long recipients, more than one frame holds, arrive whole.
func TestManyLongRecipientsArriveWhole(t *testing.T) {
	f := serve(t, nil, 1<<20)
	c := &submission.Client{Path: f.sock}
	defer c.Close()
	m := testMessage("local")
	m.Recipients = nil
	for i := range 1000 {
		m.Recipients = append(m.Recipients, fmt.Sprintf("%s-%04d@far.example", strings.Repeat("r", 800), i))
	}
	if _, err := c.Accept(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	envs, _ := f.queued(t)
	rs, _ := f.db.Recipients(envs[0].ID)
	if len(rs) != 1000 || !strings.HasSuffix(rs[999].Address, "-0999@far.example") {
		t.Fatalf("%d recipients queued", len(rs))
	}
	m.Recipients = []string{strings.Repeat("r", 900) + "@far.example"}
	if _, err := c.Accept(context.Background(), m); !outcome.IsPermanent(err) {
		t.Fatalf("an address of 900 bytes or more: %v", err)
	}
}
