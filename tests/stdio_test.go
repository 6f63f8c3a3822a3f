package tests

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/servertls"
)

// tcpserverRun is a tcpserver running "qmaild smtpd" for each connection.
type tcpserverRun struct {
	addr string
	// log is what tcpserver and the qmaild smtpd processes it started
	// wrote on stderr.
	log *syncBuffer

	cmd      *exec.Cmd
	stopOnce sync.Once
	waitErr  error
}

// startTcpserver runs "qmaild --root ROOT smtpd" under ucspi-tcp's
// tcpserver on a free port, as the daemon's account, with extra
// environment. It is stopped when the test ends, if not before.
func startTcpserver(t *testing.T, root string, acct account, env ...string) *tcpserverRun {
	t.Helper()
	need(t, "tcpserver")
	port := freePort(t)
	cmd := command(acct, "tcpserver", "-R", "-H", "127.0.0.1", fmt.Sprint(port), bin("qmaild"), "--root", root, "smtpd")
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	ts := &tcpserverRun{addr: fmt.Sprintf("127.0.0.1:%d", port), log: &syncBuffer{}, cmd: cmd}
	cmd.Stderr = ts.log
	// The qmaild smtpd processes hold the stderr pipe too; stop waits
	// this long for the last of them to exit.
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() {
			t.Logf("tcpserver log:\n%s", ts.log.String())
		}
	})
	waitFor(t, "tcpserver to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", ts.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return ts
}

// stop kills tcpserver and waits until its stderr is closed: then every
// qmaild smtpd it started has exited, and all they wrote is in log. An
// error says one was still running 30 seconds later.
func (ts *tcpserverRun) stop() error {
	ts.stopOnce.Do(func() {
		ts.cmd.Process.Kill()
		if err := ts.cmd.Wait(); errors.Is(err, exec.ErrWaitDelay) {
			ts.waitErr = fmt.Errorf("a qmaild smtpd of tcpserver on %s still held its stderr 30s after tcpserver was killed", ts.addr)
		}
	})
	return ts.waitErr
}

// queuedID is the queue id in swaks's transcript of a message qmaild
// took ("250 ok 1764000000 qp 12").
func queuedID(t *testing.T, transcript []byte) string {
	t.Helper()
	m := regexp.MustCompile(`250 ok \d+ qp (\d+)`).FindSubmatch(transcript)
	if m == nil {
		t.Fatalf("no queue id in swaks's transcript:\n%s", transcript)
	}
	return string(m[1])
}

// qmaild smtpd under tcpserver speaks qmail-smtpd and queues through the
// daemon; RELAYCLIENT from tcpserver's environment allows relaying. Each
// message it queues is logged once, "new msg" and "info msg", by the
// daemon that took it from the submission socket, not by qmaild smtpd
// too; and neither writes a "file already closed" warning about the
// session's descriptors or the socket.
func TestSMTPOnStdinUnderTcpserver(t *testing.T) {
	need(t, "swaks")
	root, addr, acct := setupRoot(t, "relay_from = []\n", nil)
	d := startDaemon(t, root, addr, acct)
	plain := startTcpserver(t, root, acct)
	relay := startTcpserver(t, root, acct, "RELAYCLIENT=")

	out, err := exec.Command("swaks", "--server", plain.addr, "--from", "a@example.org", "--to", "x@remote.example").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)") {
		t.Fatalf("relaying without RELAYCLIENT: %v\n%s", err, out)
	}
	out, err = exec.Command("swaks", "--server", plain.addr, "--from", "a@example.org", "--to", "local@localhost",
		"--header", "Subject: via-tcpserver").CombinedOutput()
	if err != nil {
		t.Fatalf("local delivery under tcpserver: %v\n%s", err, out)
	}
	ids := []string{queuedID(t, out)}
	waitFor(t, "the message in the Maildir", 15*time.Second, func() bool { return len(maildirNew(t, root)) == 1 })
	b, _ := os.ReadFile(maildirNew(t, root)[0])
	if !strings.Contains(string(b), "Subject: via-tcpserver") || !strings.Contains(string(b), "Received: from unknown (HELO ") {
		t.Fatalf("delivered:\n%s", b)
	}

	out, err = exec.Command("swaks", "--server", relay.addr, "--from", "a@example.org", "--to", "x@remote.example").CombinedOutput()
	if err != nil {
		t.Fatalf("relaying with RELAYCLIENT: %v\n%s", err, out)
	}
	ids = append(ids, queuedID(t, out))
	waitFor(t, "the relayed message to be tried", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), "to remote x@remote.example")
	})

	// Every session has ended (swaks saw QUIT answered); once tcpserver
	// and the daemon have exited and their stderr pipes are closed, the
	// logs hold all that anyone will write about these messages.
	for _, ts := range []*tcpserverRun{plain, relay} {
		if err := ts.stop(); err != nil {
			t.Fatal(err)
		}
	}
	d.stop()
	logs := map[string]string{"the daemon": d.log.String(), "qmaild smtpd (plain)": plain.log.String(), "qmaild smtpd (RELAYCLIENT)": relay.log.String()}
	for who, log := range logs {
		if strings.Contains(log, "file already closed") {
			t.Errorf("%s warned of a file already closed:\n%s", who, log)
		}
	}
	for _, who := range []string{"qmaild smtpd (plain)", "qmaild smtpd (RELAYCLIENT)"} {
		if strings.Contains(logs[who], "new msg") || strings.Contains(logs[who], "info msg") {
			t.Errorf("%s logged a queued message, which the daemon logs:\n%s", who, logs[who])
		}
	}
	for _, id := range ids {
		newMsg := regexp.MustCompile(`(?m) new msg `+id+`$`).FindAllString(logs["the daemon"], -1)
		infoMsg := regexp.MustCompile(`(?m) info msg `+id+`: `).FindAllString(logs["the daemon"], -1)
		if len(newMsg) != 1 || len(infoMsg) != 1 {
			t.Errorf("the daemon logged message %s with %d \"new msg\" and %d \"info msg\" lines, want one of each", id, len(newMsg), len(infoMsg))
		}
	}
}

// Under tcpserver, whose socket arrives blocking, the idle timeout and the
// session deadline still end a session: a silent client and a trickling
// one are both cut off.
func TestTcpserverSessionsTimeOut(t *testing.T) {
	root, daemonAddr, acct := setupRoot(t, "max_session_time = \"3s\"\n", map[string]string{"timeoutsmtpd": "1\n"})
	startDaemon(t, root, daemonAddr, acct)
	addr := startTcpserver(t, root, acct).addr

	silent := dialSMTP(t, addr)
	start := time.Now()
	if got := silent.reply(); got != "451 timeout (#4.4.2)" || time.Since(start) > 5*time.Second {
		t.Fatalf("a silent client got %q after %v, want 451 timeout after about 1s", got, time.Since(start))
	}

	trickler := dialSMTP(t, addr)
	got := make(chan string, 1)
	go func() {
		for {
			line, err := trickler.r.ReadString('\n')
			if line = strings.TrimSpace(line); err != nil || line != "250 ok" {
				got <- line
				return
			}
		}
	}()
	start = time.Now()
	for {
		select {
		case r := <-got:
			if r != "421 session time limit reached, closing (#4.4.2)" || time.Since(start) > 8*time.Second {
				t.Fatalf("a trickling client got %q after %v, want the session limit after about 3s", r, time.Since(start))
			}
			return
		case <-time.After(500 * time.Millisecond):
			// A whole command every half second: never idle.
			trickler.c.Write([]byte("NOOP\r\n"))
		}
	}
}

// qmaild smtpd under tcpserver offers STARTTLS with the root's
// certificate, and records the TLS session in the Received line; a
// QMAILQUEUE program that refuses a message is answered as qmail-smtpd
// answers qmail-queue's exit code.
func TestStartTLSAndQmailQueueUnderTcpserver(t *testing.T) {
	need(t, "swaks")
	root, addr, acct := setupRoot(t, "", nil)
	c, k, err := servertls.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "control", "servercert.pem"), string(c)+string(k))
	chownTree(t, filepath.Join(root, "control"), acct)
	startDaemon(t, root, addr, acct)
	srv := startTcpserver(t, root, acct)
	out, err := exec.Command("swaks", "--server", srv.addr, "--tls", "--from", "a@example.org", "--to", "local@localhost",
		"--header", "Subject: via-tcpserver-tls").CombinedOutput()
	if err != nil {
		t.Fatalf("STARTTLS under tcpserver: %v\n%s", err, out)
	}
	waitFor(t, "the message in the Maildir", 15*time.Second, func() bool { return len(maildirNew(t, root)) == 1 })
	b, _ := os.ReadFile(maildirNew(t, root)[0])
	if !strings.Contains(string(b), "Subject: via-tcpserver-tls") || !strings.Contains(string(b), " with ESMTPS (TLSv1.3 ") {
		t.Fatalf("delivered:\n%s", b)
	}

	dir := scratch(t, acct)
	refuse := filepath.Join(dir, "refuse")
	write(t, refuse, "#!/bin/sh\ncat >/dev/null\nexit 31\n")
	os.Chmod(refuse, 0o755)
	srv = startTcpserver(t, root, acct, "QMAILQUEUE="+refuse)
	out, err = exec.Command("swaks", "--server", srv.addr, "--from", "a@example.org", "--to", "local@localhost").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "554 mail server permanently rejected message (#5.3.0)") {
		t.Fatalf("a QMAILQUEUE program that exits 31: %v\n%s", err, out)
	}
}
