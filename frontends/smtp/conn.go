package smtp

import (
	"net"
	"sync"
	"time"
)

// qmailConn wraps a client connection for three things go-smtp does not
// let a backend do:
//
//   - the greeting: go-smtp writes "220 <Server.Domain> ESMTP Service
//     Ready", fixed when the server is made, while qmail greets with
//     control/smtpgreeting as it is when the client connects. The first
//     write on the connection is go-smtp's greeting; it is replaced.
//   - timeouts: each read and write gets control/timeoutsmtpd as read at
//     connect time, as qmail-smtpd's per-operation timeout.
//   - hanging up after a reply: after a bare LF qmail answers 451 and
//     closes; the session asks for that with closeAfterReply, and the
//     connection closes after go-smtp writes the reply.
type qmailConn struct {
	net.Conn
	greeting string
	timeout  time.Duration
	// params are the per-connection settings read at connect time.
	params *connParams

	mu         sync.Mutex
	greeted    bool
	closeAfter bool

	// release gives back the connection's place (listener.slots).
	release func()
	closed  sync.Once
}

// Close closes the connection and gives back its place.
func (c *qmailConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return err
}

func (c *qmailConn) Read(p []byte) (int, error) {
	if c.timeout > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	return c.Conn.Read(p)
}

func (c *qmailConn) Write(p []byte) (int, error) {
	if c.timeout > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	c.mu.Lock()
	greeted, closeAfter := c.greeted, c.closeAfter
	c.greeted = true
	c.mu.Unlock()
	if !greeted {
		if _, err := c.Conn.Write([]byte(c.greeting)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	n, err := c.Conn.Write(p)
	if closeAfter {
		c.Conn.Close()
	}
	return n, err
}

func (c *qmailConn) qmail() *qmailConn { return c }

func (c *qmailConn) closeAfterReply() {
	c.mu.Lock()
	c.closeAfter = true
	c.mu.Unlock()
}

// listener hands go-smtp wrapped connections, and turns away with a 421
// a client it cannot greet or has no room for. go-smtp makes its session
// only at HELO, so this is the place for decisions before the greeting.
type listener struct {
	net.Listener
	srv   *Server
	slots chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
		default:
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("421 too many connections, try again later (#4.3.2)\r\n"))
			c.Close()
			continue
		}
		qc, err := l.srv.wrap(c)
		if err != nil {
			<-l.slots
			l.srv.Log.Warning("smtp: refusing %v: %v", c.RemoteAddr(), err)
			c.Write([]byte("421 unable to read controls (#4.3.0)\r\n"))
			c.Close()
			continue
		}
		qc.release = func() { <-l.slots }
		return qc, nil
	}
}
