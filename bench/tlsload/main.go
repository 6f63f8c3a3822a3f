// Command tlsload is the benchmarks' SMTP load generator for STARTTLS,
// which postfix's smtp-source does not speak: it sends N messages over C
// concurrent sessions, a new connection per message, each one EHLO,
// STARTTLS, EHLO, MAIL, RCPT, DATA, QUIT, and prints the rate and the
// mean time of the TLS handshake (from STARTTLS sent to the handshake
// done).
//
//	tlsload -addr 127.0.0.1:25 -n 5000 -c 20 -size 4096 -from a@localhost -to b@localhost [-plain]
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:25", "SMTP server")
	n := flag.Int("n", 1000, "messages")
	c := flag.Int("c", 20, "concurrent sessions")
	size := flag.Int("size", 4096, "message size in bytes")
	from := flag.String("from", "bench@localhost", "envelope sender")
	to := flag.String("to", "", "recipient")
	plain := flag.Bool("plain", false, "no STARTTLS")
	flag.Parse()
	if *to == "" {
		fmt.Fprintln(os.Stderr, "tlsload: -to is required")
		os.Exit(100)
	}
	body := message(*size)
	var next, failed atomic.Int64
	var handshakes atomic.Int64 // nanoseconds in all
	var wg sync.WaitGroup
	start := time.Now()
	var firstErr atomic.Value
	for range *c {
		wg.Go(func() {
			for next.Add(1) <= int64(*n) {
				hs, err := send(*addr, *from, *to, body, !*plain)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				handshakes.Add(int64(hs))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := int64(*n) - failed.Load()
	fmt.Printf("sent %d failed %d seconds %.3f rate %.1f handshake_ms %.3f\n", sent, failed.Load(), elapsed.Seconds(),
		float64(sent)/elapsed.Seconds(), float64(handshakes.Load())/float64(max(sent, 1))/1e6)
	if err, ok := firstErr.Load().(error); ok {
		fmt.Fprintln(os.Stderr, "tlsload: first error:", err)
		os.Exit(111)
	}
}

// message is a message of about size bytes with CRLF line ends.
func message(size int) string {
	var b strings.Builder
	b.WriteString("Subject: tlsload\r\n\r\n")
	line := strings.Repeat("x", 70) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString(".\r\n")
	return b.String()
}

// send sends one message on a connection of its own and returns how long
// the TLS handshake took.
func send(addr, from, to, body string, starttls bool) (time.Duration, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	var conn net.Conn = nc
	r := bufio.NewReader(conn)
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("want %s, got %q", code, strings.TrimSpace(line))
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	cmd := func(text, code string) error {
		if _, err := fmt.Fprintf(conn, "%s\r\n", text); err != nil {
			return err
		}
		return expect(code)
	}
	if err := expect("220"); err != nil {
		return 0, err
	}
	if err := cmd("EHLO tlsload.example", "250"); err != nil {
		return 0, err
	}
	var hs time.Duration
	if starttls {
		t0 := time.Now()
		if err := cmd("STARTTLS", "220"); err != nil {
			return 0, err
		}
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return 0, err
		}
		hs = time.Since(t0)
		conn, r = tc, bufio.NewReader(tc)
		if err := cmd("EHLO tlsload.example", "250"); err != nil {
			return 0, err
		}
	}
	for _, step := range []struct{ text, code string }{
		{"MAIL FROM:<" + from + ">", "250"}, {"RCPT TO:<" + to + ">", "250"}, {"DATA", "354"},
	} {
		if err := cmd(step.text, step.code); err != nil {
			return 0, err
		}
	}
	if _, err := conn.Write([]byte(body)); err != nil {
		return 0, err
	}
	if err := expect("250"); err != nil {
		return 0, err
	}
	if err := cmd("QUIT", "221"); err != nil && !errors.Is(err, net.ErrClosed) {
		return hs, nil
	}
	return hs, nil
}
