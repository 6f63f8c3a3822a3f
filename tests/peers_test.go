package tests

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/fixtures/dnstest"
)

// sink is Postfix's smtp-sink listening on a loopback address, dumping
// every message it takes into a directory.
type sink struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startSink starts smtp-sink on addr with extra options (-f RCPT makes it
// refuse recipients with 5xx, -r RCPT with 4xx).
func startSink(t *testing.T, addr string, extra ...string) *sink {
	t.Helper()
	path := "/usr/sbin/smtp-sink"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("smtp-sink is not installed (Debian's postfix package; scripts/install-test-deps installs it): %v", err)
	}
	// Directly under /tmp, not t.TempDir(): smtp-sink runs as nobody and
	// must reach the directory.
	dir, err := os.MkdirTemp("", "gqmail-sink-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	args := []string{"-h", "sink-" + strings.Split(addr, ":")[0], "-d", filepath.Join(dir, "m.")}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	args = append(append(args, extra...), addr, "100")
	s := &sink{addr: addr, dir: dir, cmd: exec.Command(path, args...), done: make(chan struct{})}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	waitFor(t, "smtp-sink on "+addr, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}

func (s *sink) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

// messages returns the dumps: smtp-sink's envelope lines (X-Mail-Args,
// X-Rcpt-Args) and the message.
func (s *sink) messages(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.dir, "m.*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // smtp-sink removes the dump of a transaction cut short
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// containing returns the messages that contain text.
func containing(msgs []string, text string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, text) {
			out = append(out, m)
		}
	}
	return out
}

// maildirContaining returns the messages of a playground Maildir that
// contain text.
func maildirContaining(t *testing.T, root, text string) []string {
	t.Helper()
	var out []string
	for _, f := range maildirNew(t, root) {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), text) {
			out = append(out, string(b))
		}
	}
	return out
}

func startDNS(t *testing.T, zone string, servfail ...string) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start(zone, servfail...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// remoteToml is the qmail.toml part that points remote delivery at the
// test's DNS server and its peers' port.
func remoteToml(dns *dnstest.Server, port int) string {
	return fmt.Sprintf("[remote]\nport = %d\n[dns]\nservers = [%q]\n", port, dns.Addr)
}
