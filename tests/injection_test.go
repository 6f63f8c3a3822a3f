package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// injectionControls name the host with a dot: qmail-inject, like
// qmail's, appends defaultdomain to a host without one, so a bare
// "localhost" would become localhost.<me>.
var injectionControls = map[string]string{
	"me":        "mx.example.test\n",
	"locals":    "localhost\nmx.example.test\n",
	"rcpthosts": "localhost\nmx.example.test\n",
}

// userCaller is the ordinary local user the injection tests run the
// commands as, when they run as root.
const userCaller = "gq9caller"

// caller is who runs sendmail and friends: an ordinary account of its own
// when the tests run as root, else the current user.
type caller struct {
	acct account
	home string
	root string
}

func newCaller(t *testing.T, root string) *caller {
	t.Helper()
	c := &caller{root: root}
	if os.Geteuid() == 0 {
		c.home = scratch(t, account{"root", 0, 0})
		c.acct = realUser(t, userCaller, c.home)
		chownTree(t, c.home, c.acct)
		return c
	}
	c.acct = daemonAccount(t)
	c.home = t.TempDir()
	return c
}

// cmd runs a program as the caller, with the root in GQMAIL_ROOT.
func (c *caller) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GQMAIL_ROOT="+c.root, "HOME="+c.home, "USER="+c.acct.name, "LOGNAME="+c.acct.name)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(c.acct.uid), Gid: uint32(c.acct.gid)}}
	}
	cmd.Dir = c.home
	return cmd
}

// run runs a command as the caller with stdin and fails the test if it
// fails.
func (c *caller) run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := c.cmd(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v as %s: %v\n%s", name, args, c.acct.name, err, out)
	}
	return string(out)
}

// injected waits for the one message holding token in the playground
// Maildir and checks that the trace line names the caller's uid.
func (c *caller) injected(t *testing.T, root, token string) string {
	t.Helper()
	var got []string
	waitFor(t, "the message with "+token, 20*time.Second, func() bool {
		got = maildirContaining(t, root, token)
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("%d copies of %s", len(got), token)
	}
	if os.Geteuid() == 0 && !regexp.MustCompile(`(?m)^Received: \(qmail (\d+|pickup) invoked by uid `+strconv.Itoa(c.acct.uid)+`\); `).MatchString(got[0]) {
		t.Errorf("%s: no trace line naming uid %d:\n%s", token, c.acct.uid, got[0])
	}
	return got[0]
}

// Real callers, as an ordinary user, hand messages to sendmail and the
// rest, and each lands in the Maildir with the caller's uid on record.
func TestLocalCallersInject(t *testing.T) {
	root, addr, acct := setupRoot(t, "", injectionControls)
	startDaemon(t, root, addr, acct)
	c := newCaller(t, root)

	t.Run("a shell script: sendmail -t", func(t *testing.T) {
		c.run(t, "", "sh", "-c", `printf 'To: shell\nSubject: token-shell\n\nfrom a shell\n' | `+bin("sendmail")+` -t`)
		m := c.injected(t, root, "token-shell")
		if !strings.Contains(m, "\nFrom: "+c.acct.name+"@") || !strings.Contains(m, "\nMessage-ID: <") || !strings.Contains(m, "\nDate: ") {
			t.Errorf("qmail-inject's fields are missing:\n%s", m)
		}
	})
	t.Run("PHP's mail(): sendmail -t -i -f", func(t *testing.T) {
		c.run(t, "To: php@mx.example.test\nSubject: token-php\n\n.\nA line with only a dot above.\n", bin("sendmail"), "-t", "-i", "-f", "webapp@example.org")
		m := c.injected(t, root, "token-php")
		if !strings.Contains(m, "Return-Path: <webapp@example.org>") || !strings.Contains(m, "\n.\nA line with only a dot above.") {
			t.Errorf("sender or dot line lost:\n%s", m)
		}
	})
	t.Run("mailutils mail -s", func(t *testing.T) {
		need(t, "mail")
		c.run(t, "from mailutils\n", "mail", "-E", "set sendmail=sendmail://"+bin("sendmail"), "-s", "token-mailutils", "mailutils@mx.example.test")
		c.injected(t, root, "token-mailutils")
	})
	t.Run("mutt in batch mode", func(t *testing.T) {
		need(t, "mutt")
		c.run(t, "from mutt\n", "mutt", "-F", "/dev/null", "-e", "set sendmail=\""+bin("sendmail")+"\"", "-e", "set use_from=yes", "-e", "set from="+c.acct.name+"@mx.example.test",
			"-s", "token-mutt", "mutt@mx.example.test")
		c.injected(t, root, "token-mutt")
	})
	t.Run("swaks speaking SMTP to sendmail -bs", func(t *testing.T) {
		need(t, "swaks")
		// qmail's environment for the session replaces the caller's.
		cmd := c.cmd("swaks", "--pipe", bin("sendmail")+" -bs", "--from", "swaks@example.org", "--to", "bs@mx.example.test",
			"--header", "Subject: token-bs", "--body", "over -bs")
		cmd.Env = append(cmd.Env, "TCPREMOTEIP=10.9.9.9", "RELAYCLIENT=@forged.example")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		m := c.injected(t, root, "token-bs")
		if strings.Contains(m, "10.9.9.9") || !strings.Contains(m, "(sendmail-bs@127.0.0.1)") {
			t.Errorf("the session is not qmail's sendmail -bs:\n%s", m)
		}
	})
	t.Run("a program written to qmail-queue's interface", func(t *testing.T) {
		if code := c.qmailQueue(t, "Subject: token-qq\n\nvia qmail-queue\n", "Fqq@example.org\x00Tqq@mx.example.test\x00\x00"); code != 0 {
			t.Fatalf("qmail-queue exit %d", code)
		}
		c.injected(t, root, "token-qq")
	})
	t.Run("forward in a .qmail program line", func(t *testing.T) {
		cmd := c.cmd(bin("forward"), "fwd@mx.example.test")
		cmd.Env = append(cmd.Env, "NEWSENDER=owner@example.org", "DTLINE=Delivered-To: list@mx.example.test\n")
		cmd.Stdin = strings.NewReader("Subject: token-fwd\n\nforwarded\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !regexp.MustCompile(`^forward: qp \d+\n$`).Match(out) {
			t.Fatalf("forward: %v %q", err, out)
		}
		m := c.injected(t, root, "token-fwd")
		if !strings.Contains(m, "Return-Path: <owner@example.org>") || !strings.Contains(m, "\nDelivered-To: list@mx.example.test\nSubject: token-fwd") {
			t.Errorf("forwarded copy:\n%s", m)
		}
	})
	t.Run("QMAILQUEUE: a filter in front of qmail-queue", func(t *testing.T) {
		// A qmail-scanner style wrapper: it looks at the message, then
		// hands both descriptors on to the real qmail-queue, or refuses.
		filter := filepath.Join(c.home, "filter")
		write(t, filter, "#!/bin/sh\nmsg=$(cat)\ncase \"$msg\" in *VIRUS*) exit 31;; esac\necho filtered > \"$HOME/filter-ran\"\nprintf '%s\\n' \"$msg\" | "+bin("qmail-queue")+"\n")
		os.Chmod(filter, 0o755)
		chownTree(t, c.home, c.acct)
		cmd := c.cmd(bin("sendmail"), "-t")
		cmd.Env = append(cmd.Env, "QMAILQUEUE="+filter)
		cmd.Stdin = strings.NewReader("To: filtered@mx.example.test\nSubject: token-qmailqueue\n\nclean\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sendmail through the filter: %v %s", err, out)
		}
		c.injected(t, root, "token-qmailqueue")
		if b, err := os.ReadFile(filepath.Join(c.home, "filter-ran")); err != nil || string(b) != "filtered\n" {
			t.Fatalf("the filter did not run: %q %v", b, err)
		}
		cmd = c.cmd(bin("qmail-inject"), "filtered@mx.example.test")
		cmd.Env = append(cmd.Env, "QMAILQUEUE="+filter)
		cmd.Stdin = strings.NewReader("Subject: token-virus\n\nVIRUS\n")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 100 || !strings.Contains(string(out), "qmail-inject: fatal: mail server permanently rejected message (#5.3.0)") {
			t.Fatalf("a refusing filter: %v %q", err, out)
		}
	})
	t.Run("qmail-queue refuses a broken envelope and queues nothing", func(t *testing.T) {
		for _, tc := range []struct {
			env  string
			code int
		}{
			{"Fs@example.org\x00Tx@mx.example.test\x00", 54},
			{"Xs@example.org\x00Tx@mx.example.test\x00\x00", 91},
			{"F\x00T" + strings.Repeat("a", 1003) + "\x00\x00", 11},
		} {
			if code := c.qmailQueue(t, "Subject: token-broken\n\nno\n", tc.env); code != tc.code {
				t.Errorf("envelope %.20q: exit %d, want %d", tc.env, code, tc.code)
			}
		}
		// A message sent after them arrives first; none of them did.
		c.run(t, "Subject: token-after-broken\n\nx\n", bin("sendmail"), "after@mx.example.test")
		c.injected(t, root, "token-after-broken")
		if got := maildirContaining(t, root, "token-broken"); len(got) != 0 {
			t.Fatalf("a refused envelope's message was delivered")
		}
	})
}

// qmailQueue runs qmail-queue as the caller: the message on its fd 0, the
// envelope on its fd 1, written by the test as a qmail program would.
func (c *caller) qmailQueue(t *testing.T, msg, envelope string) int {
	t.Helper()
	envR, envW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := c.cmd(bin("qmail-queue"))
	cmd.Stdin = strings.NewReader(msg)
	cmd.Stdout = envR
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	envR.Close()
	envW.WriteString(envelope)
	envW.Close()
	err = cmd.Wait()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("qmail-queue: %v %s", err, stderr.String())
	}
	return 0
}

// With the daemon stopped nothing is lost: 200 messages from 8 callers at
// once go into the pickup directory and are delivered when the daemon
// starts; a sendmail killed in the middle of a message leaves neither a
// message nor a file; a file whose contents claim another uid is recorded
// with its owner's.
func TestInjectionWhileTheDaemonIsDown(t *testing.T) {
	root, addr, acct := setupRoot(t, "", injectionControls)
	d := startDaemon(t, root, addr, acct) // makes the root, pickup/ included
	d.stop()
	c := newCaller(t, root)

	const n, parallel = 200, 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range parallel {
		wg.Go(func() {
			for i := range next {
				cmd := c.cmd(bin("sendmail"), "down@mx.example.test")
				cmd.Stdin = strings.NewReader(fmt.Sprintf("Received: (qmail 1 invoked by uid 0); forged\nSubject: token-down-%03d\n\nwhile the daemon was down\n", i))
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("sendmail %d: %v: %s", i, err, out)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A sendmail killed while it writes: it never gets to say the
	// message was taken.
	killed := c.cmd(bin("sendmail"), "killed@mx.example.test")
	stdin, _ := killed.StdinPipe()
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("Subject: token-killed\n\n" + strings.Repeat("part of a message\n", 10000)))
	waitFor(t, "the killed sendmail's file", 10*time.Second, func() bool { return len(pickupFiles(t, root, "tmp.")) > 0 })
	killed.Process.Kill()
	killed.Wait()

	// An SMTP session on sendmail -bs: qmaild smtpd takes the message
	// into the pickup directory too.
	want := n
	if _, err := exec.LookPath("swaks"); err == nil {
		want++
		c.run(t, "", "swaks", "--pipe", bin("sendmail")+" -bs", "--from", "bs@example.org", "--to", "down@mx.example.test",
			"--header", "Subject: token-bsdown", "--body", "over -bs, the daemon down")
	} else {
		t.Log("swaks is missing: sendmail -bs is not tried with the daemon down (scripts/install-test-deps installs it)")
	}
	if got := len(pickupFiles(t, root, "msg.")); got != want {
		t.Fatalf("%d files in pickup/, want %d", got, want)
	}
	d = startDaemon(t, root, addr, acct)
	waitFor(t, "every message delivered", 60*time.Second, func() bool { return len(maildirContaining(t, root, "token-down-")) == n })
	for i := range n {
		if got := maildirContaining(t, root, fmt.Sprintf("token-down-%03d", i)); len(got) != 1 {
			t.Fatalf("message %d delivered %d times", i, len(got))
		}
	}
	waitFor(t, "the pickup directory to empty", 10*time.Second, func() bool {
		return len(pickupFiles(t, root, "")) == 0
	})
	if _, err := exec.LookPath("swaks"); err == nil {
		c.injected(t, root, "token-bsdown")
	}
	if got := maildirContaining(t, root, "token-killed"); len(got) != 0 {
		t.Fatal("the killed sendmail's message was delivered")
	}
	if os.Geteuid() == 0 {
		m := maildirContaining(t, root, "token-down-000")[0]
		trace := regexp.MustCompile(`(?m)^Received: \(qmail pickup invoked by uid (\d+)\); `).FindStringSubmatch(m)
		if trace == nil || trace[1] != strconv.Itoa(c.acct.uid) || strings.Index(m, "invoked by uid "+strconv.Itoa(c.acct.uid)) > strings.Index(m, "invoked by uid 0") {
			t.Fatalf("the message is not recorded as uid %d's, first:\n%s", c.acct.uid, m)
		}
	}
	if !strings.Contains(d.log.String(), "info msg ") {
		t.Fatal("no info msg lines")
	}
}

// pickupFiles lists the pickup directory's files that start with prefix.
func pickupFiles(t *testing.T, root, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "pickup"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// mailq, as an ordinary user, shows a message deferred to a host that
// cannot be reached, with its last error.
func TestMailqShowsADeferredMessage(t *testing.T) {
	dead := freePort(t)
	root, addr, acct := setupRoot(t, "", map[string]string{"smtproutes": fmt.Sprintf("far.example:127.0.0.1:%d\n", dead)})
	d := startDaemon(t, root, addr, acct)
	c := newCaller(t, root)
	c.run(t, "Subject: token-mailq\n\nnot yet\n", bin("sendmail"), "-f", "waiting@example.org", "someone@far.example")
	waitFor(t, "the deferral", 20*time.Second, func() bool { return strings.Contains(d.log.String(), "deferral: ") })
	out := c.run(t, "", bin("mailq"))
	for _, want := range []string{"<waiting@example.org>", "\tremote\tsomeone@far.example", "1 attempts, next ", ": Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("mailq lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT  #\d+  \d+  <waiting@example.org>$`).MatchString(out) {
		t.Errorf("not qmail-qread's line:\n%s", out)
	}
	if bp := c.run(t, "", bin("sendmail"), "-bp"); bp != out {
		t.Errorf("sendmail -bp differs from mailq:\n%s", bp)
	}

}

// qmailctl install-links puts the commands where software looks for them,
// leaves another MTA's sendmail alone unless forced, and the links work.
func TestInstallLinks(t *testing.T) {
	root, addr, acct := setupRoot(t, "", injectionControls)
	startDaemon(t, root, addr, acct)
	stage := scratch(t, account{"root", 0, 0}) // the caller must reach the links
	other := filepath.Join(stage, "usr/sbin/sendmail")
	write(t, other, "#!/bin/sh\nexit 75\n")

	out, code := run(t, nil, "qmailctl", "--root", root, "install-links", "--destdir", stage)
	if code != 100 || !strings.Contains(out, other+": left alone, it is a file that is not a Go program") {
		t.Fatalf("exit %d, want 100 naming %s:\n%s", code, other, out)
	}
	for _, p := range []string{"usr/lib/sendmail", "usr/bin/mailq", "usr/bin/newaliases", root + "/bin/qmail-inject", root + "/bin/qmail-queue", root + "/bin/forward"} {
		target, err := os.Readlink(filepath.Join(stage, p))
		if err != nil || target != bin(filepath.Base(p)) {
			t.Errorf("%s -> %q (%v), want %s", p, target, err, bin(filepath.Base(p)))
		}
	}
	if b, _ := os.ReadFile(other); string(b) != "#!/bin/sh\nexit 75\n" {
		t.Fatal("the other sendmail was changed")
	}

	out, code = run(t, nil, "qmailctl", "--root", root, "install-links", "--destdir", stage, "--force")
	if code != 0 || !strings.Contains(out, "is now "+other+".before-gqmail") {
		t.Fatalf("--force: exit %d:\n%s", code, out)
	}
	if b, _ := os.ReadFile(other + ".before-gqmail"); string(b) != "#!/bin/sh\nexit 75\n" {
		t.Fatal("--force did not keep the other sendmail")
	}

	// The link in /usr/sbin is a working sendmail, for an ordinary user.
	c := newCaller(t, root)
	c.run(t, "Subject: token-link\n\nthrough /usr/sbin/sendmail\n", other, "linked@mx.example.test")
	c.injected(t, root, "token-link")
}

// A caller that already holds its share of the socket's places (ten) is
// not turned away: its sendmail, greeted "busy", writes to the pickup
// directory, and the daemon delivers from there.
func TestBusyDaemonSendsSendmailToPickup(t *testing.T) {
	// Debian's python3: a caller may not reach one under root's home.
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skipf("skipped: %s is missing (Debian's python3 package; scripts/install-test-deps installs it)", python)
	}
	root, addr, acct := setupRoot(t, "", injectionControls)
	startDaemon(t, root, addr, acct)
	c := newCaller(t, root)
	holder := c.cmd(python, "-c", `
import socket, sys, time
held = []
for i in range(10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.recv(64)  # the greeting: admitted
    held.append(s)
print("holding", flush=True)
time.sleep(60)
`, filepath.Join(root, "submit", "inject.sock"))
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	line := make([]byte, 8)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "holding\n" {
		t.Fatalf("the holder: %q %v", line, err)
	}

	c.run(t, "Subject: token-busy\n\nthe daemon is full\n", bin("sendmail"), "busy@mx.example.test")
	m := c.injected(t, root, "token-busy")
	if !strings.Contains(m, "Received: (qmail pickup invoked by uid ") {
		t.Errorf("not taken through the pickup directory:\n%s", m)
	}
}

// A privileged program that runs sendmail without cleaning its
// environment does not let its caller choose the root or a program to
// run: a setuid copy of sendmail ignores GQMAIL_ROOT and QMAILQUEUE.
func TestSetuidSendmailIgnoresTheCallersChoices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to make a setuid copy of sendmail (CI runs as root)")
	}
	root, addr, acct := setupRoot(t, "", injectionControls)
	startDaemon(t, root, addr, acct)
	c := newCaller(t, root)
	dir := scratch(t, account{"root", 0, 0})
	suid := filepath.Join(dir, "sendmail")
	b, err := os.ReadFile(bin("sendmail"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, suid, string(b))
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(c.home, "qq-ran")
	qq := filepath.Join(c.home, "qq")
	write(t, qq, "#!/bin/sh\ntouch "+marker+"\nexit 0\n")
	os.Chmod(qq, 0o755)
	chownTree(t, c.home, c.acct)

	cmd := c.cmd(suid, "someone@mx.example.test")
	cmd.Env = append(cmd.Env, "QMAILQUEUE="+qq)
	cmd.Stdin = strings.NewReader("Subject: token-suid\n\nx\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/var/qmail") {
		t.Fatalf("a setuid sendmail used the caller's root: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a setuid sendmail ran the caller's QMAILQUEUE")
	}
	if got := maildirContaining(t, root, "token-suid"); len(got) != 0 {
		t.Fatal("delivered through the caller's root")
	}
}
