package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An in-place upgrade replaces the qmaild binary while the daemon runs.
// The running helper starts its delivery children from the binary it was
// itself started from, not from whatever is at the path now: mail queued
// after the replacement is still delivered by the old code, and after a
// restart by the new one. Nothing is lost on the way.
func TestBinaryReplacedUnderARunningDaemon(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	dir := filepath.Join(filepath.Dir(root), "bin")
	os.MkdirAll(dir, 0o755)
	exe := filepath.Join(dir, "qmaild")
	copyFile(t, bin("qmaild"), exe)
	chownTree(t, dir, acct)
	d := startDaemonFrom(t, exe, root, addr, acct, nil)

	sendMail(t, addr, "s@example.org", "before@localhost", "Subject: before\r\n\r\nbefore-upgrade\r\n")
	waitFor(t, "the first message", 15*time.Second, func() bool { return len(maildirContaining(t, root, "before-upgrade")) == 1 })

	// The "new version" cannot deliver at all: a child started from the
	// path would fail every delivery. The helper's idle children go, so
	// that the next delivery needs a new one.
	replaceFile(t, exe, "#!/bin/sh\necho 'this binary cannot deliver' >&2\nexit 111\n")
	helpers := pgrepHelper(t, root)
	if len(helpers) != 1 {
		t.Fatalf("helper processes: %v", helpers)
	}
	killChildrenOf(t, helpers[0])
	sendMail(t, addr, "s@example.org", "during@localhost", "Subject: during\r\n\r\nduring-upgrade\r\n")
	if got := d.waitResult(t, "during@localhost"); !strings.HasPrefix(got, "success") {
		t.Fatalf("a delivery after the binary was replaced: %q", got)
	}
	if strings.Contains(d.log.String(), "this binary cannot deliver") {
		t.Fatal("a delivery child was started from the replaced binary")
	}

	// The operator installs the real new version and restarts.
	d.stop()
	replaceFileFrom(t, exe, bin("qmaild"))
	chownTree(t, dir, acct)
	d = startDaemonFrom(t, exe, root, addr, acct, nil)
	sendMail(t, addr, "s@example.org", "after@localhost", "Subject: after\r\n\r\nafter-upgrade\r\n")
	waitFor(t, "the message after the restart", 15*time.Second, func() bool { return len(maildirContaining(t, root, "after-upgrade")) == 1 })
	for _, token := range []string{"before-upgrade", "during-upgrade", "after-upgrade"} {
		if n := len(maildirContaining(t, root, token)); n != 1 {
			t.Errorf("%s delivered %d times", token, n)
		}
	}
}

// killChildrenOf kills the processes whose parent is pid, and waits
// until they are gone.
func killChildrenOf(t *testing.T, pid int) {
	t.Helper()
	children := func() []int {
		var out []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
			if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
				n, _ := strconv.Atoi(e.Name())
				out = append(out, n)
			}
		}
		return out
	}
	for _, c := range children() {
		syscall.Kill(c, syscall.SIGKILL)
	}
	waitFor(t, "the helper's children to go", 10*time.Second, func() bool { return len(children()) == 0 })
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// replaceFile puts text at path by rename, as a package manager installs
// a binary: the running process keeps the old file.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func replaceFileFrom(t *testing.T, path, from string) {
	t.Helper()
	copyFile(t, from, path+".new")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}
