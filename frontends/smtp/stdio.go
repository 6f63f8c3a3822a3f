package smtp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// StdioConn is one SMTP connection on two file descriptors, as tcpserver
// and inetd hand it over (stdin and stdout), with what tcpserver's
// environment says about the client.
type StdioConn struct {
	In  *os.File
	Out *os.File
	// RemoteIP, RemoteHost, RemoteInfo and LocalHost come from
	// TCPREMOTEIP, TCPREMOTEHOST, TCPREMOTEINFO and TCPLOCALHOST.
	RemoteIP   string
	RemoteHost string
	RemoteInfo string
	LocalHost  string
	// Relay is set when RELAYCLIENT is set; RelayAppend is its value,
	// appended to every recipient.
	Relay       bool
	RelayAppend string

	closeOnce sync.Once
}

// StdioFromEnv builds a StdioConn from descriptors 0 and 1 and the
// environment that tcpserver (or tcp-env under inetd) sets. The
// descriptors are made non-blocking, so that Go's poller serves them and
// read and write deadlines work: tcpserver hands over a blocking socket,
// on which no timeout would ever fire.
func StdioFromEnv(getenv func(string) (string, bool)) (*StdioConn, error) {
	in, out, err := OpenStdio()
	if err != nil {
		return nil, err
	}
	return NewStdioConn(in, out, getenv), nil
}

// OpenStdio makes descriptors 0 and 1 non-blocking and returns them as
// files Go's poller serves, so that deadlines work on them.
func OpenStdio() (in, out *os.File, err error) {
	for _, fd := range []int{0, 1} {
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, nil, fmt.Errorf("descriptor %d: %w", fd, err)
		}
	}
	return os.NewFile(0, "stdin"), os.NewFile(1, "stdout"), nil
}

// NewStdioConn builds a StdioConn from in, out and what the environment
// says about the client.
func NewStdioConn(in, out *os.File, getenv func(string) (string, bool)) *StdioConn {
	get := func(k, def string) string {
		if v, ok := getenv(k); ok && v != "" {
			return v
		}
		return def
	}
	relay, relayOK := getenv("RELAYCLIENT")
	return &StdioConn{
		In:          in,
		Out:         out,
		RemoteIP:    get("TCPREMOTEIP", "unknown"),
		RemoteHost:  get("TCPREMOTEHOST", "unknown"),
		RemoteInfo:  get("TCPREMOTEINFO", ""),
		LocalHost:   get("TCPLOCALHOST", get("TCPLOCALIP", "unknown")),
		Relay:       relayOK,
		RelayAppend: relay,
	}
}

// checkDeadlines makes sure no read or write can wait for ever: each
// descriptor takes a deadline, or is a regular file, which never blocks.
func (c *StdioConn) checkDeadlines() error {
	for _, d := range []struct {
		f   *os.File
		set func(time.Time) error
	}{{c.In, c.In.SetReadDeadline}, {c.Out, c.Out.SetWriteDeadline}} {
		err := d.set(time.Now().Add(time.Hour))
		if err == nil {
			continue
		}
		if fi, serr := d.f.Stat(); serr == nil && fi.Mode().IsRegular() {
			continue
		}
		return fmt.Errorf("no timeout can be set on %s, so a client could hold it for ever: %w", d.f.Name(), err)
	}
	return nil
}

func (c *StdioConn) Read(p []byte) (int, error)  { return c.In.Read(p) }
func (c *StdioConn) Write(p []byte) (int, error) { return c.Out.Write(p) }

// Close closes both descriptors, once.
func (c *StdioConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = errors.Join(c.In.Close(), c.Out.Close())
	})
	return err
}

func (c *StdioConn) LocalAddr() net.Addr  { return stdioAddr("stdio") }
func (c *StdioConn) RemoteAddr() net.Addr { return stdioAddr(net.JoinHostPort(c.RemoteIP, "0")) }

// Deadlines work when the descriptors support them (sockets, pipes); a
// descriptor that does not is read without a timeout.
func (c *StdioConn) SetDeadline(t time.Time) error {
	return errors.Join(c.In.SetReadDeadline(t), c.Out.SetWriteDeadline(t))
}
func (c *StdioConn) SetReadDeadline(t time.Time) error  { return c.In.SetReadDeadline(t) }
func (c *StdioConn) SetWriteDeadline(t time.Time) error { return c.Out.SetWriteDeadline(t) }

type stdioAddr string

func (a stdioAddr) Network() string { return "stdio" }
func (a stdioAddr) String() string  { return string(a) }
