package remotedeliver

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"
)

// startTLS issues STARTTLS on conn, after go-smtp's client has said EHLO
// on it, and returns the TLS connection, ready for a new client.
//
// go-smtp v0.25's client can only start TLS before its own EHLO, and then
// introduces itself as "localhost". Doing the command here keeps our
// helohost in both EHLOs. It is safe to read the reply straight from the
// socket: once the EHLO reply has been read, the server sends nothing until
// it gets a command, so no byte of it sits in go-smtp's buffer; and the
// reply is read byte by byte, so no byte of the TLS handshake is taken.
func startTLS(conn net.Conn, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	conn.SetDeadline(time.Now().Add(timeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, err
	}
	for {
		line, err := readLine(conn)
		if err != nil {
			return nil, err
		}
		if len(line) < 4 || line[:3] != "220" {
			return nil, fmt.Errorf("server said %q", line)
		}
		if line[3] == ' ' {
			break
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	// The new client reads a greeting first; after STARTTLS the server
	// sends none, so one is made up.
	return &greeted{Conn: tc, pending: []byte("220 TLS\r\n")}, nil
}

func readLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 4096 {
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		if b[0] == '\n' {
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return string(line), nil
		}
		line = append(line, b[0])
	}
	return "", fmt.Errorf("reply line longer than 4096 bytes")
}

// greeted is a connection whose first reads return pending.
type greeted struct {
	net.Conn
	pending []byte
}

func (g *greeted) Read(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
