package smtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gqmail/gqmail/internal/control"
)

// maxCommandLine bounds a command line. qmail has no limit; RFC 5321 asks
// for 512 bytes, and MAIL with its parameters may need more.
const maxCommandLine = 2048

// connParams are the settings of one connection, read when it starts.
type connParams struct {
	remoteIP    netip.Addr
	remoteHost  string // "unknown" unless the environment says
	remoteInfo  string // TCPREMOTEINFO, when the environment says
	localHost   string
	relay       bool
	relayAppend string
	rcptHosts   control.DomainSet
	haveRcpt    bool
	badMailFrom *control.BadMailFrom
	databytes   int64
	greeting    string
	// role is the listener's: submission, implicit TLS.
	role Role
	// session numbers the connection in the log.
	session uint64
}

// conn is one client connection. It owns what the client can make the
// server hold and for how long:
//
//   - replies are buffered and written when the next read would wait, so
//     that pipelined commands get their replies together, as qmail-smtpd
//     does;
//   - a command line is at most maxCommandLine bytes (the rest of a longer
//     one is read and dropped, never held), and the whole line must arrive
//     within the idle timeout, however it trickles in;
//   - the idle timeout is control/timeoutsmtpd, or smtp.stress_timeout
//     while the server is under stress (a session already waiting is cut
//     short when stress begins);
//   - during DATA each read must bring bytes within the timeout;
//   - nothing is read after smtp.max_session_time from the connection's
//     start.
type conn struct {
	srv *Server
	// raw is the connection as accepted, which Server.Close closes; nc
	// is what the session reads and writes: raw, or TLS over it.
	raw net.Conn
	nc  net.Conn
	p   *connParams
	// tls is the state of the TLS layer once there is one.
	tls *tls.ConnectionState
	r   *bufio.Reader
	w   *bufio.Writer

	timeout time.Duration // control/timeoutsmtpd at connect
	end     time.Time     // the session's deadline

	mu        sync.Mutex
	waitStart time.Time // when the current wait for the client began; zero when not waiting
	deadline  time.Time // the read deadline in force
	perRead   bool      // each read sets its own deadline (DATA)
}

func newConn(s *Server, nc net.Conn, p *connParams) *conn {
	c := &conn{srv: s, raw: nc, nc: nc, p: p}
	c.r = bufio.NewReaderSize(connReader{c}, 4096)
	c.w = bufio.NewWriterSize(nc, 4096)
	return c
}

// connReader is what the buffered reader reads from: the connection, with
// the deadline of a DATA read set before each read.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	c.mu.Lock()
	if c.perRead {
		c.waitStart = time.Now()
		c.setDeadlineLocked(c.waitStart.Add(c.idle()))
	}
	c.mu.Unlock()
	n, err := c.nc.Read(p)
	if c.perRead {
		c.mu.Lock()
		c.waitStart = time.Time{}
		c.mu.Unlock()
	}
	return n, err
}

// setDeadlineLocked sets the read deadline to d, or to the session's end
// if that comes first.
func (c *conn) setDeadlineLocked(d time.Time) {
	if c.end.Before(d) {
		d = c.end
	}
	c.deadline = d
	c.nc.SetReadDeadline(d)
}

// idle is how long the client may take to send a command.
func (c *conn) idle() time.Duration {
	if c.srv.gate.stressed() {
		return min(c.timeout, c.srv.Config.StressTimeout)
	}
	return c.timeout
}

// stress shortens a wait for the client (a command, or bytes of DATA)
// that began before stress did.
func (c *conn) stress() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waitStart.IsZero() {
		return
	}
	if d := c.waitStart.Add(c.srv.Config.StressTimeout); d.Before(c.deadline) {
		c.setDeadlineLocked(d)
	}
}

var errLineTooLong = errors.New("command line too long")

// readLine returns the next command line without its line end. Replies
// waiting in the buffer are written first, if the read would wait.
func (c *conn) readLine() (string, error) {
	if c.r.Buffered() == 0 {
		if err := c.flush(); err != nil {
			return "", err
		}
	}
	c.mu.Lock()
	c.perRead = false
	c.waitStart = time.Now()
	c.setDeadlineLocked(c.waitStart.Add(c.idle()))
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.waitStart = time.Time{}
		c.mu.Unlock()
	}()
	var line []byte
	tooLong := false
	for {
		piece, err := c.r.ReadSlice('\n')
		if len(line)+len(piece) > maxCommandLine {
			tooLong = true
		} else {
			line = append(line, piece...)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
	if tooLong {
		return "", errLineTooLong
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// dataMode makes each read during DATA set its own deadline.
func (c *conn) dataMode(on bool) {
	c.mu.Lock()
	c.perRead = on
	c.mu.Unlock()
}

// reply buffers one reply line; text has no line end.
func (c *conn) reply(text string) {
	c.w.WriteString(text)
	c.w.WriteString("\r\n")
}

// flush writes the buffered replies.
func (c *conn) flush() error {
	if c.w.Buffered() == 0 {
		return nil
	}
	// A write may take the idle timeout, up to the session's end; the
	// last words after the end get a moment of their own.
	now := time.Now()
	d := now.Add(c.idle())
	if c.end.Before(d) {
		d = c.end
		if grace := now.Add(2 * time.Second); d.Before(grace) {
			d = grace
		}
	}
	c.nc.SetWriteDeadline(d)
	return c.w.Flush()
}

// pastEnd reports whether the session's time is up.
func (c *conn) pastEnd() bool { return !time.Now().Before(c.end) }

// isTimeout reports whether err is a read or write deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isGone reports whether err means the client went away.
func isGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
