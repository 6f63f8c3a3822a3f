package localdeliver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkpasswordScript is a checkpassword in the third-party style: it
// reads descriptor 3 with head, compares, and exits 0 (by running its
// argument), 1 or 111. Other logins make it misbehave on purpose.
const checkpasswordScript = `#!/bin/sh
data=$(head -c 512 <&3 | tr '\0' '#')
[ "$TCPREMOTEIP" = 192.0.2.7 ] || exit 2
[ "$PATH" = /usr/bin:/bin ] && [ -z "$HOME" ] || exit 2
case "$data" in
"alice#s3cret##") exec "$@" ;;
tempfail#*) exit 111 ;;
noisy#*) echo "noisy was told: $data" >&2; exit 1 ;;
chatty#*) echo "chatty was here" >&2; exit 1 ;;
crash#*) kill -9 $$ ;;
hang#*) sleep 60 & echo $! > %[1]s/sleeper; wait; exit 0 ;;
slow#*) echo + >> %[1]s/log; sleep 0.3; echo - >> %[1]s/log; exit 1 ;;
esac
exit 1
`

// passwords holds every password the tests send, to look for in logs.
var passwords = []string{"s3cret", "wrong-s3cret", "hunter2", "swordfish", "n0isy-pa55word"}

func authHelper(t *testing.T) (*Helper, string) {
	t.Helper()
	dir := t.TempDir()
	prog := filepath.Join(dir, "checkpw")
	if err := os.WriteFile(prog, fmt.Appendf(nil, checkpasswordScript, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Helper{Checkpassword: []string{prog}, CheckpasswordTimeout: time.Second}, dir
}

func noPasswordIn(t *testing.T, w *warnings) {
	t.Helper()
	for _, p := range passwords {
		if strings.Contains(w.String(), p) {
			t.Fatalf("a warning holds the password %q:\n%s", p, w)
		}
	}
}

func TestCheckPasswordRunsCheckpassword(t *testing.T) {
	h, _ := authHelper(t)
	c, w := serveHelper(t, h)
	ctx := context.Background()
	cases := []struct {
		login, password, ip string
		want                AuthResult
		temporary           string
	}{
		{"alice", "s3cret", "192.0.2.7", AuthAccepted, ""},
		{"alice", "wrong-s3cret", "192.0.2.7", AuthRejected, ""},
		{"bob", "s3cret", "192.0.2.7", AuthRejected, ""},
		{"alice", "", "192.0.2.7", AuthRejected, ""},
		{"tempfail", "hunter2", "192.0.2.7", AuthRejected, "exited 111"},
		{"alice", "s3cret", "192.0.2.8", AuthRejected, "misused"},
		{"crash", "hunter2", "192.0.2.7", AuthRejected, "crashed"},
		{"noisy", "n0isy-pa55word", "192.0.2.7", AuthRejected, ""},
		{"chatty", "swordfish", "192.0.2.7", AuthRejected, ""},
	}
	for _, tc := range cases {
		res, err := c.CheckPassword(ctx, tc.login, tc.password, tc.ip)
		switch {
		case tc.temporary == "" && (err != nil || res != tc.want):
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tc.login, res, err, tc.want)
		case tc.temporary != "" && (err == nil || !strings.Contains(err.Error(), tc.temporary) || res != AuthRejected):
			t.Errorf("CheckPassword(%q) = %v, %v; want a temporary failure saying %q", tc.login, res, err, tc.temporary)
		}
		if err != nil && strings.Contains(err.Error(), tc.password) && tc.password != "" {
			t.Errorf("the error holds the password: %v", err)
		}
	}
	if !strings.Contains(w.String(), "chatty was here") {
		t.Errorf("checkpassword's stderr was not logged:\n%s", w)
	}
	if !strings.Contains(w.String(), "holding the password; not logged") {
		t.Errorf("stderr holding the password was not withheld:\n%s", w)
	}
	noPasswordIn(t, w)
}

// Credentials that cannot be valid never reach the helper.
func TestCheckPasswordRejectsImpossibleCredentialsWithoutAsking(t *testing.T) {
	c, _, _ := fakeHelper(t) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for _, cred := range [][2]string{{"", "x"}, {"a\x00b", "x"}, {"alice", "s3\x00cret"}, {strings.Repeat("a", 257), "x"}, {"alice", strings.Repeat("x", 257)}} {
		if res, err := c.CheckPassword(ctx, cred[0], cred[1], "192.0.2.7"); res != AuthRejected || err != nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want rejected without asking", cred[0], res, err)
		}
	}
	for _, ip := range []string{"", "localhost", "fe80::1%eth0", "::ffff:192.0.2.7x", "2001:DB8::1"} {
		if _, err := c.CheckPassword(ctx, "alice", "s3cret", ip); err == nil || err == context.DeadlineExceeded {
			t.Errorf("remote IP %q: %v, want refused without asking", ip, err)
		}
	}
}

// A checkpassword that hangs is killed with its process group after the
// timeout, and the answer is a temporary failure.
func TestCheckPasswordThatHangsIsKilled(t *testing.T) {
	h, dir := authHelper(t)
	c, w := serveHelper(t, h)
	start := time.Now()
	res, err := c.CheckPassword(context.Background(), "hang", "hunter2", "192.0.2.7")
	if err == nil || res != AuthRejected || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("CheckPassword = %v, %v; want a timeout", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the answer took %v with a 1s timeout", d)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sleeper"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break // gone, or dead and waiting for init
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpassword's child %d outlived it: %s", pid, stat)
		}
	}
	noPasswordIn(t, w)
}

// No more than maxAuthChecks run at once; the others wait their turn.
func TestCheckPasswordRunsAtMostEightAtOnce(t *testing.T) {
	h, dir := authHelper(t)
	c, w := serveHelper(t, h)
	const n = 2*maxAuthChecks + 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			res, err := c.CheckPassword(context.Background(), "slow", "hunter2", "192.0.2.7")
			if err != nil || res != AuthRejected {
				errs <- fmt.Errorf("%v, %v", res, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a check that waited its turn: %v", err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	running, most := 0, 0
	for _, l := range strings.Fields(string(log)) {
		if l == "+" {
			running++
		} else {
			running--
		}
		most = max(most, running)
	}
	if most > maxAuthChecks || most < 2 {
		t.Fatalf("%d checkpassword runs at once, want 2 to %d", most, maxAuthChecks)
	}
	noPasswordIn(t, w)
}

// With every slot taken and the line behind them full, a check fails at
// once instead of waiting.
func TestCheckPasswordFailsAtOnceWhenTheLineIsFull(t *testing.T) {
	h, _ := authHelper(t)
	c, w := serveHelper(t, h)
	const extra = 5
	const n = maxAuthChecks + maxAuthWaiting + extra
	start := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fast int
	)
	for range n {
		wg.Go(func() {
			_, err := c.CheckPassword(context.Background(), "hang", "hunter2", "192.0.2.7")
			if err == nil {
				t.Errorf("a hanging check succeeded")
				return
			}
			if strings.Contains(err.Error(), "too many") && time.Since(start) < 700*time.Millisecond {
				mu.Lock()
				fast++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fast < extra {
		t.Fatalf("%d checks failed at once, want at least %d", fast, extra)
	}
	noPasswordIn(t, w)
}

func TestCheckPasswordWithoutAProgramIsTemporary(t *testing.T) {
	c, _ := serveHelper(t, &Helper{})
	if res, err := c.CheckPassword(context.Background(), "alice", "s3cret", "192.0.2.7"); err == nil || res != AuthRejected {
		t.Fatalf("CheckPassword = %v, %v; want a temporary failure", res, err)
	}
}
