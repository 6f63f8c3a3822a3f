package smtp

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// benchSession sends one 4 KiB message on a new connection, with or
// without STARTTLS, and fails the benchmark on any unexpected reply.
func benchSession(b *testing.B, addr string, starttls bool, body string) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var conn net.Conn = nc
	r := bufio.NewReader(conn)
	expect := func(code string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, code) {
				b.Fatalf("want %s, got %q %v", code, line, err)
			}
			if line[3] != '-' {
				return
			}
		}
	}
	cmd := func(text, code string) {
		conn.Write([]byte(text + "\r\n"))
		expect(code)
	}
	expect("220")
	cmd("EHLO bench.example", "250")
	if starttls {
		cmd("STARTTLS", "220")
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		conn, r = tc, bufio.NewReader(tc)
		cmd("EHLO bench.example", "250")
	}
	cmd("MAIL FROM:<s@elsewhere.example>", "250")
	cmd("RCPT TO:<u@example.org>", "250")
	cmd("DATA", "354")
	conn.Write([]byte(body))
	expect("250")
	cmd("QUIT", "221")
}

// BenchmarkSession measures a whole SMTP session (connect, one 4 KiB
// message, QUIT) against a server queueing into memory, plain and with
// STARTTLS: the difference is what TLS costs per message on both sides
// of the connection (go test -run '^$' -bench Session -cpu 1 ./frontends/smtp/).
func BenchmarkSession(b *testing.B) {
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 57) + ".\r\n"
	cfg := tlsServer(b)
	f := newFixtureFull(b, basicControls, nil, func(s *Server) { s.TLS = cfg }, Role{})
	for _, tc := range []struct {
		name     string
		starttls bool
	}{{"plain", false}, {"starttls", true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				benchSession(b, f.addr, tc.starttls, body)
			}
		})
	}
}
