// Package unixsock is what the daemon's two Unix-socket servers, the
// submission socket (frontends/inject) and the administration socket
// (frontends/admin), do alike before a client is theirs: take the next
// connection without stopping on a failure that passes, ask the kernel
// who is at the other end, and greet one they will not serve with a
// refusal that cannot hold them up. Who may come in, and how many at
// once, each server decides itself.
package unixsock

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
)

// RefusalTimeout bounds the writing of a refusal: a client that does not
// read it holds a goroutine no longer.
const RefusalTimeout = 5 * time.Second

// Accept returns the next connection on l, and false once l is closed.
// Any other failure (out of descriptors, say) is logged as a warning that
// starts with name, and the accept tried again a tenth of a second later,
// so that the server goes on while the daemon runs.
func Accept(l *net.UnixListener, log *qlog.Logger, name string) (*net.UnixConn, bool) {
	for {
		c, err := l.AcceptUnix()
		if err == nil {
			return c, true
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, false
		}
		log.Warning("%s: %v; trying again", name, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// PeerCred returns the credentials the kernel recorded for the process at
// the other end of c when it connected (SO_PEERCRED): that process cannot
// choose them.
func PeerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if credErr != nil {
		return nil, credErr
	}
	return cred, nil
}

// Refuse greets the client on c with the frame "tag Z why" (a temporary
// refusal, as internal/outcome writes it), then closes c. It writes in a
// goroutine of wg, within RefusalTimeout, so that the accept loop goes on
// at once and a client that does not read holds nothing for longer.
func Refuse(wg *sync.WaitGroup, c net.Conn, tag, why string) {
	refusal := outcome.Temporary("%s", why)
	wg.Go(func() {
		defer c.Close()
		c.SetWriteDeadline(time.Now().Add(RefusalTimeout))
		frame.Write(bufio.NewWriter(c), []byte(tag), []byte{outcome.Letter(refusal)}, []byte(outcome.Text(refusal)))
	})
}
