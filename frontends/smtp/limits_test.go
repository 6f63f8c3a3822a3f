package smtp

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/config"
)

// controlsWith is basicControls with one more control file.
func controlsWith(name, text string) map[string]string {
	ctl := map[string]string{name: text}
	for k, v := range basicControls {
		ctl[k] = v
	}
	return ctl
}

// dialFrom connects from the loopback address src.
func dialFrom(t *testing.T, src, addr string) (*client, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing from %s: %v", src, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	return cl, cl.reply()
}

// While one address holds every place it may, another is greeted at once.
func TestOneAddressCannotTakeEverySession(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) { c.MaxConnectionsPerIP = 5 })
	for i := range 5 {
		if _, g := dialFrom(t, "127.0.0.1", f.addr); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("connection %d from 127.0.0.1: %q", i+1, g)
		}
	}
	if _, g := dialFrom(t, "127.0.0.1", f.addr); g != "421 too many connections from your address, try again later (#4.3.2)" {
		t.Fatalf("one more from 127.0.0.1: %q", g)
	}
	start := time.Now()
	_, g := dialFrom(t, "127.0.0.2", f.addr)
	if !strings.HasPrefix(g, "220 ") || time.Since(start) > time.Second {
		t.Fatalf("127.0.0.2 got %q after %v; want a greeting within a second", g, time.Since(start))
	}
}

// Clients that may relay are not counted per address, as Postfix exempts
// mynetworks; the total still holds.
func TestRelayClientsAreNotCountedPerAddress(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) { c.MaxConnectionsPerIP = 2; c.MaxConnections = 4 }, "127.0.0.0/8")
	for i := range 4 {
		if _, g := dial(t, f.addr); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("relay client connection %d: %q", i+1, g)
		}
	}
	if _, g := dial(t, f.addr); g != "421 too many connections, try again later (#4.3.2)" {
		t.Fatalf("over the total: %q", g)
	}
}

// A client that sends a byte now and then is cut off when the session's
// time is up, whatever the idle timeout.
func TestTricklingClientIsCutAtTheSessionDeadline(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) { c.MaxSessionTime = 1500 * time.Millisecond })
	c, _ := dial(t, f.addr)
	start := time.Now()
	c.do("HELO x\r\n")
	c.do("MAIL FROM:<s@x>\r\n")
	c.do("RCPT TO:<u@example.org>\r\n")
	if got := c.do("DATA\r\n"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA: %q", got)
	}
	got := make(chan string, 1)
	go func() { got <- c.reply() }()
	for i := 0; ; i++ {
		select {
		case r := <-got:
			if r != "421 session time limit reached, closing (#4.4.2)" {
				t.Fatalf("the trickler got %q", r)
			}
			if d := time.Since(start); d < 1400*time.Millisecond || d > 5*time.Second {
				t.Fatalf("cut after %v, want about 1.5s", d)
			}
			return
		case <-time.After(100 * time.Millisecond):
			if _, err := c.c.Write([]byte("x")); err != nil {
				t.Fatalf("write %d: %v before any reply", i, err)
			}
		}
	}
}

// A command line must arrive whole within the idle timeout: sending it a
// byte at a time does not stretch the wait.
func TestACommandLineMustArriveWithinTheIdleTimeout(t *testing.T) {
	f := newFixture(t, controlsWith("timeoutsmtpd", "1\n"))
	c, _ := dial(t, f.addr)
	got := make(chan string, 1)
	go func() { got <- c.reply() }()
	start := time.Now()
	for _, b := range []byte("NOOP and more and more and more\r\n") {
		select {
		case r := <-got:
			if r != "451 timeout (#4.4.2)" || time.Since(start) > 3*time.Second {
				t.Fatalf("got %q after %v, want 451 timeout after about 1s", r, time.Since(start))
			}
			return
		case <-time.After(200 * time.Millisecond):
			c.c.Write([]byte{b})
		}
	}
	t.Fatalf("a command line trickled in over %v was taken", time.Since(start))
}

// Near the connection limit the idle timeout drops to stress_timeout, for
// sessions that were already waiting too.
func TestIdleSessionsAreCutShortUnderStress(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) {
		c.MaxConnections = 5 // stress from 4 sessions
		c.StressTimeout = 300 * time.Millisecond
	})
	var idle []*client
	for range 3 {
		c, _ := dial(t, f.addr)
		idle = append(idle, c)
	}
	// Not under stress: three idle sessions stay. They are looked at
	// without a command, which would leave one between commands when
	// stress begins; cutting the others ends the stress, and that one
	// would then rightly wait the whole idle timeout.
	time.Sleep(600 * time.Millisecond)
	for i, c := range idle {
		c.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if line, err := c.r.ReadString('\n'); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle session %d without stress: %q, %v", i, line, err)
		}
		c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	start := time.Now()
	dial(t, f.addr) // the fourth: stress
	for i, c := range idle {
		if got := c.reply(); got != "451 timeout (#4.4.2)" {
			t.Fatalf("idle session %d under stress: %q", i, got)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("idle sessions were cut after %v under stress", d)
	}
}

// The same recipient given twice is handed to the queue once; the queue
// finds the same mailbox spelt two ways (store.Accept's test).
func TestRepeatedRecipientsAreHandedOverOnce(t *testing.T) {
	f := newFixture(t, basicControls, "127.0.0.0/8")
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	c.do("MAIL FROM:<s@x>\r\n")
	for _, r := range []string{"bob@localhost", "bob@localhost", "Bob@localhost", "x@far.example", "bob@localhost"} {
		if got := c.do("RCPT TO:<" + r + ">\r\n"); got != "250 ok" {
			t.Fatalf("RCPT %s: %q", r, got)
		}
	}
	c.do("DATA\r\n")
	if got := c.do("x\r\n.\r\n"); !strings.HasPrefix(got, "250 ok") {
		t.Fatalf("end of data: %q", got)
	}
	if got := strings.Join(f.queue.all()[0].Recipients, " "); got != "bob@localhost Bob@localhost x@far.example" {
		t.Fatalf("queued recipients %q", got)
	}
}

func TestRecipientsBeyondTheLimitGet452(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) { c.MaxRecipients = 3 })
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	c.do("MAIL FROM:<s@x>\r\n")
	for i, want := range []string{"250 ok", "250 ok", "250 ok", "452 sorry, too many recipients (#4.5.3)"} {
		if got := c.do("RCPT TO:<u" + string(rune('a'+i)) + "@example.org>\r\n"); got != want {
			t.Fatalf("recipient %d: %q, want %q", i+1, got, want)
		}
	}
}

// SIZE is offered with the limit in force, and a larger declared size is
// refused before any data.
func TestSizeIsAdvertisedAndEnforcedAtMail(t *testing.T) {
	f := newFixture(t, controlsWith("databytes", "1000\n"))
	c, _ := dial(t, f.addr)
	c.c.Write([]byte("EHLO x\r\n"))
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
		if line[3] == ' ' {
			break
		}
	}
	if strings.Join(lines, "|") != "250-mx.example.org|250-PIPELINING|250-8BITMIME|250 SIZE 1000" {
		t.Fatalf("EHLO: %q", lines)
	}
	if got := c.do("MAIL FROM:<s@x> SIZE=1001\r\n"); got != "552 sorry, that message size exceeds my databytes limit (#5.3.4)" {
		t.Fatalf("MAIL SIZE=1001: %q", got)
	}
	if got := c.do("MAIL FROM:<s@x> SIZE=1000 BODY=8BITMIME\r\n"); got != "250 ok" {
		t.Fatalf("MAIL SIZE=1000: %q", got)
	}
}

// QUIT ends the session even when more commands follow it in the same
// packet: nothing after it is read.
func TestQuitEndsTheSessionWhateverFollowsIt(t *testing.T) {
	f := newFixture(t, basicControls)
	c, _ := dial(t, f.addr)
	c.c.Write([]byte("HELO x\r\nQUIT\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.org>\r\n"))
	for _, want := range []string{"250 mx.example.org", "221 mx.example.org"} {
		if got := c.reply(); got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	if got := c.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("after QUIT: %q", got)
	}
}

// A line longer than the limit is answered 500 and dropped, never held,
// and the session goes on.
func TestLongCommandLineIsRefusedAndTheSessionGoesOn(t *testing.T) {
	f := newFixture(t, basicControls)
	c, _ := dial(t, f.addr)
	if got := c.do("NOOP " + strings.Repeat("x", 1<<20) + "\r\n"); got != "500 line too long (#5.5.2)" {
		t.Fatalf("a 1 MiB line: %q", got)
	}
	if got := c.do("NOOP\r\n"); got != "250 ok" {
		t.Fatalf("after the long line: %q", got)
	}
}

// A session of the stdio server whose input ends in the middle of a
// message queues nothing.
func TestStdioClientThatLeavesInDataQueuesNothing(t *testing.T) {
	f := newFixture(t, basicControls)
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	sc := NewStdioConn(inR, outW, func(string) (string, bool) { return "", false })
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeConn(sc) }()
	go bufio.NewReader(outR).WriteTo(discard{})
	inW.Write([]byte("HELO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<u@example.org>\r\nDATA\r\nhalf a message\r\n"))
	time.Sleep(100 * time.Millisecond)
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(f.queue.all()); n != 0 || f.queue.aborted != 1 {
		t.Fatalf("%d queued, %d aborted", n, f.queue.aborted)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// One IPv6 client holds a /64: its addresses share one count.
func TestIPv6ClientsAreCountedByTheirSlash64(t *testing.T) {
	g := newGate(100, 2)
	a, b, c := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2"), netip.MustParseAddr("2001:db8:0:1::1")
	if _, r := g.enter(a, false); r != "" {
		t.Fatal(r)
	}
	if _, r := g.enter(b, false); r != "" {
		t.Fatal(r)
	}
	if _, r := g.enter(b, false); !strings.Contains(r, "from your address") {
		t.Fatalf("a third session from the same /64: %q", r)
	}
	if _, r := g.enter(c, false); r != "" {
		t.Fatalf("another /64: %q", r)
	}
}

// Under stress a client inside DATA gets the short timeout too, for each
// read: trickling bytes into a message does not keep a place.
func TestDataReadsGetTheStressTimeout(t *testing.T) {
	f := newFixtureWith(t, basicControls, func(c *config.SMTP) {
		c.MaxConnections = 5
		c.StressTimeout = 300 * time.Millisecond
	})
	c, _ := dial(t, f.addr)
	c.do("HELO x\r\n")
	c.do("MAIL FROM:<s@x>\r\n")
	c.do("RCPT TO:<u@example.org>\r\n")
	if got := c.do("DATA\r\n"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA: %q", got)
	}
	for range 3 {
		dial(t, f.addr) // four sessions: stress
	}
	got := make(chan string, 1)
	go func() { got <- c.reply() }()
	start := time.Now()
	for {
		select {
		case r := <-got:
			if r != "451 timeout (#4.4.2)" || time.Since(start) > 3*time.Second {
				t.Fatalf("a slow DATA client under stress got %q after %v", r, time.Since(start))
			}
			return
		case <-time.After(time.Second):
			// A byte a second: within timeoutsmtpd, not within stress.
			c.c.Write([]byte("x"))
		}
	}
}
