package tests

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// The running daemon, attacked over TCP by clients that may not relay:
// one address holding every session it may, the same mailbox given many
// times in every case, a bare CR after a leading dot, and commands
// pipelined after QUIT.
func TestDaemonHoldsAgainstHostileSMTPClients(t *testing.T) {
	root, addr, acct := setupRoot(t, "relay_from = []\nmax_connections_per_ip = 3\n", nil)
	d := startDaemon(t, root, addr, acct)

	t.Run("one address cannot take every session", func(t *testing.T) {
		// Addresses of their own: the other subtests connect from
		// 127.0.0.1, and a closed session's place is given back a
		// moment after the client sees it close.
		for range 3 {
			if g := firstLine(t, dialRaw(t, addr, "127.0.0.4")); !strings.HasPrefix(g, "220 ") {
				t.Fatalf("within the limit: %q", g)
			}
		}
		if g := firstLine(t, dialRaw(t, addr, "127.0.0.4")); !strings.HasPrefix(g, "421 ") {
			t.Fatalf("over the limit from 127.0.0.4: %q", g)
		}
		start := time.Now()
		if g := firstLine(t, dialRaw(t, addr, "127.0.0.5")); !strings.HasPrefix(g, "220 ") || time.Since(start) > time.Second {
			t.Fatalf("127.0.0.5 got %q after %v", g, time.Since(start))
		}
	})

	t.Run("a mailbox given many times gets one copy", func(t *testing.T) {
		s := dialSMTP(t, addr)
		s.expect2("HELO x\r\n", "250")
		s.expect2("MAIL FROM:<s@example.org>\r\n", "250")
		var burst strings.Builder
		for i := range 3000 {
			burst.WriteString("RCPT TO:<" + []string{"bob", "Bob", "BOB"}[i%3] + "@localhost>\r\n")
		}
		s.c.Write([]byte(burst.String()))
		for range 3000 {
			if r := s.reply(); r != "250 ok" {
				t.Fatalf("RCPT: %q", r)
			}
		}
		s.expect2("DATA\r\n", "354")
		s.expect2("Subject: many\r\n\r\nmany-rcpt-token\r\n.\r\n", "250")
		waitFor(t, "the delivery", 15*time.Second, func() bool { return strings.Contains(d.log.String(), "end msg") })
		if got := len(maildirContaining(t, root, "many-rcpt-token")); got != 1 {
			t.Fatalf("%d copies delivered, want 1", got)
		}
	})

	t.Run("a CR after a leading dot is a bare CR", func(t *testing.T) {
		s := dialSMTP(t, addr)
		s.expect2("HELO x\r\n", "250")
		s.expect2("MAIL FROM:<s@example.org>\r\n", "250")
		s.expect2("RCPT TO:<carol@localhost>\r\n", "250")
		s.expect2("DATA\r\n", "354")
		if got := s.send("Subject: dot\r\n\r\nbefore\r\n.\rdot-cr-token\r\n.\r\n"); got != "451 See https://cr.yp.to/docs/smtplf.html." {
			t.Fatalf("'.\\r' at a line start: %q", got)
		}
		if got := len(maildirContaining(t, root, "dot-cr-token")); got != 0 {
			t.Fatalf("the message was delivered %d times", got)
		}
	})

	t.Run("nothing after QUIT is read", func(t *testing.T) {
		for i := range 20 {
			c := dialRaw(t, addr, fmt.Sprintf("127.0.1.%d", i+1))
			c.Write([]byte("HELO x\r\nQUIT\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@localhost>\r\nNOOP\r\n"))
			r := bufio.NewReader(c)
			var lines []string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				lines = append(lines, strings.TrimSpace(line))
			}
			if len(lines) != 3 || !strings.HasPrefix(lines[2], "221 ") {
				t.Fatalf("replies %q, want the greeting, HELO's and QUIT's only", lines)
			}
		}
		if strings.Contains(d.log.String(), "panic") {
			t.Fatalf("the daemon logged a panic:\n%s", d.log)
		}
	})
}

func firstLine(t *testing.T, c net.Conn) string {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Sprintf("EOF: %v", err)
	}
	return strings.TrimRight(line, "\r\n")
}
