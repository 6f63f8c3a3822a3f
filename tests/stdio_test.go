package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startTcpserver runs "qmaild --root ROOT smtpd" under ucspi-tcp's
// tcpserver on a free port, as the daemon's account, with extra
// environment; it returns the address.
func startTcpserver(t *testing.T, root string, acct account, env ...string) string {
	t.Helper()
	need(t, "tcpserver")
	port := freePort(t)
	cmd := command(acct, "tcpserver", "-R", "-H", "127.0.0.1", fmt.Sprint(port), bin("qmaild"), "--root", root, "smtpd")
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("tcpserver log:\n%s", log.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, "tcpserver to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// qmaild smtpd under tcpserver speaks qmail-smtpd and queues through the
// daemon; RELAYCLIENT from tcpserver's environment allows relaying.
func TestSMTPOnStdinUnderTcpserver(t *testing.T) {
	need(t, "swaks")
	root, addr, acct := setupRoot(t, "relay_from = []\n", nil)
	d := startDaemon(t, root, addr, acct)
	plain := startTcpserver(t, root, acct)
	relay := startTcpserver(t, root, acct, "RELAYCLIENT=")

	out, err := exec.Command("swaks", "--server", plain, "--from", "a@example.org", "--to", "x@remote.example").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)") {
		t.Fatalf("relaying without RELAYCLIENT: %v\n%s", err, out)
	}
	out, err = exec.Command("swaks", "--server", plain, "--from", "a@example.org", "--to", "local@localhost",
		"--header", "Subject: via-tcpserver").CombinedOutput()
	if err != nil {
		t.Fatalf("local delivery under tcpserver: %v\n%s", err, out)
	}
	waitFor(t, "the message in the Maildir", 15*time.Second, func() bool { return len(maildirNew(t, root)) == 1 })
	b, _ := os.ReadFile(maildirNew(t, root)[0])
	if !strings.Contains(string(b), "Subject: via-tcpserver") || !strings.Contains(string(b), "Received: from unknown (HELO ") {
		t.Fatalf("delivered:\n%s", b)
	}

	out, err = exec.Command("swaks", "--server", relay, "--from", "a@example.org", "--to", "x@remote.example").CombinedOutput()
	if err != nil {
		t.Fatalf("relaying with RELAYCLIENT: %v\n%s", err, out)
	}
	waitFor(t, "the relayed message to be tried", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), "to remote x@remote.example")
	})
}
