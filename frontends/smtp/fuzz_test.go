package smtp

import (
	"bytes"
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

// burst sends raw to a new session, half-closes the connection when told,
// and reads whatever comes back until the server hangs up or is quiet for
// a moment; then it hangs up itself.
func burst(t testing.TB, addr string, raw []byte, halfClose bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	go func() {
		c.Write(raw)
		if halfClose {
			c.(*net.TCPConn).CloseWrite()
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
// BDAT and STARTTLS (not offered), data with dots and stray line ends.
var sessionWords = []string{
	"HELO x", "EHLO client.example", "MAIL FROM:<s@x>", "MAIL FROM:<>", "MAIL FROM:<s@x> SIZE=99999999999",
	"RCPT TO:<u@example.org>", "RCPT TO:<u@elsewhere.example>", "RCPT TO:<>", "RCPT TO:u", "RCPT TO:<\"q\\\"x\"@example.org>",
	"DATA", "BDAT 10 LAST", "BDAT 5", "STARTTLS", "AUTH PLAIN AGFAAGI=", "RSET", "NOOP", "VRFY u", "HELP", "QUIT",
	"", "mail", "rcpt to:", "data junk", ".", "..", ".\r", "Subject: x", "Received: x", "\x00\xff",
}

// randomSession makes one pipelined burst from the seed.
func randomSession(r *rand.Rand) ([]byte, bool) {
	var b bytes.Buffer
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
	return b.Bytes(), r.IntN(3) == 0
}

// Random pipelined sessions never make the server panic, and it serves
// normally after them.
func TestRandomPipelinedSessions(t *testing.T) {
	// Many sessions from one address at once, on purpose.
	log := &logBuffer{}
	f := newFixtureFull(t, basicControls, func(c *config.SMTP) { c.MaxConnections, c.MaxConnectionsPerIP = 1000, 1000 },
		func(s *Server) { s.Log = qlog.New(log, "plain") }, Role{})
	r := rand.New(rand.NewPCG(7, 11))
	var wg sync.WaitGroup
	for range 300 {
		raw, half := randomSession(r)
		wg.Go(func() { burst(t, f.addr, raw, half) })
		if r.IntN(4) == 0 {
			wg.Wait() // sometimes one at a time, sometimes many at once
		}
	}
	wg.Wait()
	if strings.Contains(log.String(), "panic") {
		t.Fatalf("the server panicked:\n%s", log)
	}
	usable(t, f)
}

// FuzzSession sends any burst of bytes as one pipelined session.
func FuzzSession(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		raw, _ := randomSession(r)
		f.Add(raw, false)
	}
	f.Add([]byte("HELO x\r\nQUIT\r\nMAIL FROM:<a@example.org>\r\n"), false)
	f.Add([]byte("HELO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n.\rX\r\n.\r\n"), true)
	// Every session logs its start and end: keep only panic lines, so
	// that the check costs the same at the ten thousandth input.
	log := &panicLines{}
	fx := newFixtureFull(f, basicControls, func(c *config.SMTP) { c.MaxConnections, c.MaxConnectionsPerIP = 1000, 1000 },
		func(s *Server) { s.Log = qlog.New(log, "plain") }, Role{})
	f.Fuzz(func(t *testing.T, raw []byte, half bool) {
		burst(t, fx.addr, raw, half)
		if p := log.String(); p != "" {
			t.Fatalf("the server panicked on %q:\n%s", raw, p)
		}
	})
}

// panicLines keeps the log lines that tell of a panic.
type panicLines struct{ logBuffer }

func (p *panicLines) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("panic")) {
		return p.logBuffer.Write(b)
	}
	return len(b), nil
}
