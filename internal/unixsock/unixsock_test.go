package unixsock

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/qlog"
)

// pair returns both ends of a connection through a listener on a socket
// in a temporary directory, the server's end taken by Accept.
func pair(t *testing.T) (l *net.UnixListener, server *net.UnixConn, client net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	client, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, ok := Accept(l, qlog.New(io.Discard, "plain"), "test socket")
	if !ok {
		t.Fatal("Accept said the listener is closed")
	}
	t.Cleanup(func() { server.Close() })
	return l, server, client
}

func TestPeerCredIsTheConnectingProcess(t *testing.T) {
	_, server, _ := pair(t)
	cred, err := PeerCred(server)
	if err != nil {
		t.Fatal(err)
	}
	if int(cred.Uid) != os.Getuid() || int(cred.Gid) != os.Getgid() || int(cred.Pid) != os.Getpid() {
		t.Errorf("PeerCred = uid %d gid %d pid %d, want uid %d gid %d pid %d", cred.Uid, cred.Gid, cred.Pid, os.Getuid(), os.Getgid(), os.Getpid())
	}
}

func TestRefuseGreetsWithATemporaryRefusalAndCloses(t *testing.T) {
	_, server, client := pair(t)
	var wg sync.WaitGroup
	Refuse(&wg, server, "hello/3", "too many at once; try again")
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(client)
	f, err := frame.Read(r)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	want := [][]byte{[]byte("hello/3"), []byte("Z"), []byte("too many at once; try again")}
	if len(f) != len(want) || !bytes.Equal(f[0], want[0]) || !bytes.Equal(f[1], want[1]) || !bytes.Equal(f[2], want[2]) {
		t.Errorf("refusal frame %q, want %q", f, want)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the refusal: %v, want EOF (the connection closed)", err)
	}
	wg.Wait()
}

func TestAcceptSaysFalseOnceTheListenerIsClosed(t *testing.T) {
	l, _, _ := pair(t)
	l.Close()
	if c, ok := Accept(l, qlog.New(io.Discard, "plain"), "test socket"); ok || c != nil {
		t.Errorf("Accept on a closed listener = %v, %v; want nil, false", c, ok)
	}
	if _, err := l.AcceptUnix(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the listener is not closed: %v", err)
	}
}
