package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gqmail/gqmail/fixtures"
)

// binDir holds the binaries built for this run, readable by every user.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gqmail-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/...")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// account is who the daemon runs as.
type account struct {
	name     string
	uid, gid int
}

const testUser = "gqmailtest"

var (
	accountOnce sync.Once
	theAccount  account
	accountErr  error
)

// daemonAccount returns the account for the daemon: the current user, or,
// when the tests run as root, an ordinary account made for them.
func daemonAccount(t *testing.T) account {
	t.Helper()
	accountOnce.Do(func() {
		if os.Geteuid() != 0 {
			u, err := user.Current()
			if err != nil {
				accountErr = err
				return
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			theAccount = account{u.Username, uid, gid}
			return
		}
		theAccount, accountErr = ensureUser(testUser)
	})
	if accountErr != nil {
		t.Skipf("no account to run the daemon as: %v", accountErr)
	}
	return theAccount
}

// ensureUser makes a system account (as root) if it does not exist.
func ensureUser(name string) (account, error) {
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", name).CombinedOutput()
		if err != nil {
			return account{}, fmt.Errorf("useradd %s: %v: %s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{name, uid, gid}, nil
}

// scratch makes a directory for one test, owned by the daemon's account.
// It is removed when the test passes and kept, with its path printed,
// when it fails.
func scratch(t *testing.T, acct account) string {
	t.Helper()
	dir := fixtures.Scratch(t)
	os.Chmod(dir, 0o755)
	if os.Geteuid() == 0 {
		os.Chown(dir, acct.uid, acct.gid)
	}
	return dir
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon is a running qmaild.
type daemon struct {
	t    *testing.T
	root string
	addr string
	acct account
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setupRoot makes a root with qmail.toml listening on a free port, plus
// the given extra settings and control files, owned by the daemon account.
func setupRoot(t *testing.T, toml string, controls map[string]string) (string, string, account) {
	t.Helper()
	return setupRootOn(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), toml, controls)
}

// setupRootOn is setupRoot listening on addr.
func setupRootOn(t *testing.T, addr, toml string, controls map[string]string) (string, string, account) {
	t.Helper()
	acct := daemonAccount(t)
	dir := scratch(t, acct)
	root := filepath.Join(dir, "root")
	if !strings.Contains(toml, "[dns]") {
		// No test asks the machine's name servers: remote domains of
		// tests that do not serve DNS fail to resolve, at once.
		toml += "\n[dns]\nservers = [\"127.0.0.1:9\"]\n"
	}
	write(t, filepath.Join(root, "qmail.toml"), fmt.Sprintf("[smtp]\nlisten = [%q]\n%s", addr, toml))
	for name, text := range controls {
		write(t, filepath.Join(root, "control", name), text)
	}
	chownTree(t, dir, acct)
	return root, addr, acct
}

// write writes a file, making its directories.
func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// chownTree gives everything under dir to acct (when running as root).
func chownTree(t *testing.T, dir string, acct account) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, acct.uid, acct.gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// command returns a command that runs as the daemon's account.
func command(acct account, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if os.Geteuid() == 0 && acct.uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(acct.uid), Gid: uint32(acct.gid)}}
		u, err := user.LookupId(strconv.Itoa(acct.uid))
		if err == nil {
			cmd.Env = append(os.Environ(), "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
		}
	}
	return cmd
}

// startDaemon starts qmaild on root and waits until it serves addr.
func startDaemon(t *testing.T, root, addr string, acct account) *daemon {
	t.Helper()
	return startDaemonWith(t, root, addr, acct, nil)
}

// startDaemonWith is startDaemon with extra descriptors left open in
// qmaild, from 3 up, as a careless supervisor would leave them.
func startDaemonWith(t *testing.T, root, addr string, acct account, extra []*os.File) *daemon {
	t.Helper()
	return startDaemonFrom(t, bin("qmaild"), root, addr, acct, extra)
}

// startDaemonFrom is startDaemonWith, running the qmaild binary at exe.
func startDaemonFrom(t *testing.T, exe, root, addr string, acct account, extra []*os.File) *daemon {
	t.Helper()
	return startDaemonCmd(t, command(acct, exe, "--root", root), root, addr, acct, extra)
}

// startDaemonCmd starts cmd, a command that runs qmaild on root (under
// strace, say), and waits until it serves addr.
func startDaemonCmd(t *testing.T, cmd *exec.Cmd, root, addr string, acct account, extra []*os.File) *daemon {
	t.Helper()
	d := &daemon{t: t, root: root, addr: addr, acct: acct, log: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = cmd
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.ExtraFiles = extra
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("qmaild log:\n%s", d.log)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		// The line comes after the queue is open and the engine runs.
		if strings.Contains(d.log.String(), "smtp: listening on "+addr) {
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("qmaild exited at start: %s", d.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("qmaild did not listen on %s: %s", addr, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Errorf("qmaild did not stop within 30s of SIGTERM")
		d.cmd.Process.Kill()
		<-d.done
	}
}

// kill sends SIGKILL and waits.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// maildirNew returns the files in the playground Maildir's new/.
func maildirNew(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "home", "Maildir", "new"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(root, "home", "Maildir", "new", e.Name()))
	}
	return out
}

// waitFor polls cond until it holds or the time runs out.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// need skips the test when a program is missing.
func need(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (scripts/install-test-deps installs it): %v", p, err)
		}
	}
}

// smtpSession is a raw SMTP conversation for tests that need exact bytes.
type smtpSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpSession {
	t.Helper()
	return dialSMTPFrom(t, addr, "127.0.0.1")
}

// dialSMTPFrom connects to addr from the loopback address source and
// reads the greeting.
func dialSMTPFrom(t *testing.T, addr, source string) *smtpSession {
	t.Helper()
	c := dialRaw(t, addr, source)
	s := &smtpSession{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// dialRaw connects to addr from the loopback address source; nothing is
// read.
func dialRaw(t *testing.T, addr, source string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s from %s: %v", addr, source, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (s *smtpSession) reply() string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply: %v (got %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (s *smtpSession) expect(code string) string {
	s.t.Helper()
	line := s.reply()
	if !strings.HasPrefix(line, code) {
		s.t.Fatalf("reply %q, want %s", line, code)
	}
	return line
}

// cmd sends raw bytes (a CRLF is not added) and returns the reply.
func (s *smtpSession) send(raw string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(raw)); err != nil {
		s.t.Fatal(err)
	}
	return s.reply()
}

// expect2 sends raw and checks the reply code.
func (s *smtpSession) expect2(raw, code string) string {
	s.t.Helper()
	got := s.send(raw)
	if !strings.HasPrefix(got, code) {
		s.t.Fatalf("%q: reply %q, want %s", strings.TrimSpace(raw), got, code)
	}
	return got
}
