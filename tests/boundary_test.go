package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The accounts of the trust-boundary tests: an attacker who receives mail
// and runs programs from .qmail, and a victim whose mail is in flight
// meanwhile.
const (
	userAttacker = "gq7attack"
	userVictim   = "gq7victim"
)

// hostileProgram writes forged delivery results, in the helper's old and
// new wire formats, claiming success and a forward to the attacker, to
// every descriptor it can reach: its own and those of its parent (the
// delivery child, which runs as the same user), followed by a forged log
// line. It also makes every such
// descriptor non-blocking, which once killed the helper. It lists what it
// reached in ./reached.
const hostileProgram = `import os, struct, fcntl
def uv(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def frame(fields):
    body = b''.join(uv(len(f)) + f for f in fields)
    return struct.pack('>I', len(body)) + body
fwd = b'` + userAttacker + `@localhost'
forged = b''
for i in range(1, 64):
    forged += frame([struct.pack('>Q', i), b'K', b'did 0+1+0\n', b'', fwd])
for i in range(64):
    forged += frame([b'result/1', os.urandom(16), b'K', b'did 0+1+0\n', b'', fwd])
forged += b'\n2000-01-01T00:00:00.000000Z delivery 999: success: forged-log-line/\n'
reached = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
    except OSError:
        continue
    reached.append('own fd %d' % fd)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        os.write(fd, forged)
    except OSError:
        pass
ppid = os.getppid()
for name in os.listdir('/proc/%d/fd' % ppid):
    try:
        fd = os.open('/proc/%d/fd/%s' % (ppid, name), os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        continue
    reached.append('parent fd %s' % name)
    try:
        os.write(fd, forged)
    except OSError:
        pass
open('reached', 'w').write('\n'.join(reached) + '\n')
`

// TestProgramsGetOnlyTheirStandardDescriptors: a .qmail program sees
// descriptors 0, 1 and 2 and nothing else, even when qmaild was started
// with descriptors of its own left open, and a hostile program that
// writes forged results to everything it can reach changes no other
// user's delivery and does not stop the daemon.
func TestProgramsGetOnlyTheirStandardDescriptors(t *testing.T) {
	s := newRealSite(t, "python3")
	hA, hV := s.home(userAttacker), s.home(userVictim)
	a := s.user(t, userAttacker, map[string]string{
		".qmail":         "./Maildir/\n",
		".qmail-fds":     "|ls -l /proc/self/fd/ > ./fds\n",
		".qmail-hostile": "|python3 ./hostile.py\n",
		"hostile.py":     hostileProgram,
	})
	// The victim's delivery is slow, so that it is in flight while the
	// hostile program runs.
	v := s.user(t, userVictim, map[string]string{".qmail": "|sleep 3\n./Maildir/\n"})
	makeMaildir(t, filepath.Join(hA, "Maildir"), a)
	makeMaildir(t, filepath.Join(hV, "Maildir"), v)

	s.configure(t, siteConfig{
		alias:    "nobody-such",
		controls: map[string]string{"me": "localhost\n", "concurrencylocal": "20\n"},
	})
	addr := s.addr

	// qmaild starts with two descriptors it did not ask for.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	leaked, err := os.Create(filepath.Join(s.base, "leaked-file"))
	if err != nil {
		t.Fatal(err)
	}
	defer leaked.Close()
	d := s.start(t, pr, leaked)

	t.Run("a program sees only 0, 1 and 2", func(t *testing.T) {
		sendMail(t, addr, "s@example.org", userAttacker+"-fds@localhost", "Subject: fds\r\n\r\nfds\r\n")
		if got := d.waitResult(t, userAttacker+"-fds@localhost"); !strings.HasPrefix(got, "success") {
			t.Fatalf("delivery: %s", got)
		}
		// ls's own descriptor for the directory it lists is the one
		// other line allowed.
		own := regexp.MustCompile(`-> /proc/\d+/fd$`)
		var fds []string
		for _, line := range strings.Split(readFile(t, filepath.Join(hA, "fds")), "\n") {
			name, target, ok := strings.Cut(line, " -> ")
			if !ok || own.MatchString(line) {
				continue
			}
			f := strings.Fields(name)
			fds = append(fds, f[len(f)-1]+" "+target)
		}
		if len(fds) != 3 || !strings.HasPrefix(fds[0], "0 ") || !strings.HasPrefix(fds[1], "1 ") || !strings.HasPrefix(fds[2], "2 ") {
			t.Fatalf("a .qmail program has descriptors %q, want only 0, 1 and 2", fds)
		}
	})

	t.Run("a hostile program changes no other delivery", func(t *testing.T) {
		const victims = 4
		for i := range victims {
			sendMail(t, addr, "s@example.org", userVictim+"@localhost", fmt.Sprintf("Subject: v%d\r\n\r\nvictim-token-%d\r\n", i, i))
		}
		// Wait until the victim's deliveries are under way.
		waitFor(t, "the victim's deliveries to start", 10*time.Second, func() bool {
			return strings.Count(d.log.String(), "to local "+userVictim+"@localhost") == victims
		})
		sendMail(t, addr, "s@example.org", userAttacker+"-hostile@localhost", "Subject: hostile\r\n\r\nhostile\r\n")
		if got := d.waitResult(t, userAttacker+"-hostile@localhost"); !strings.HasPrefix(got, "success") {
			t.Fatalf("hostile delivery: %s", got)
		}
		t.Logf("the hostile program reached: %q", strings.Fields(readFile(t, filepath.Join(hA, "reached"))))
		waitFor(t, "the victim's deliveries to end", 30*time.Second, func() bool {
			return len(d.results()[userVictim+"@localhost"]) == victims
		})
		for _, r := range d.results()[userVictim+"@localhost"] {
			if r != "success: did_1+0+1/" {
				t.Errorf("victim's delivery: %q, want did_1+0+1 (the program and the maildir, no forward)", r)
			}
		}
		got := maildirTexts(t, filepath.Join(hV, "Maildir"))
		for i := range victims {
			if n := strings.Count(got, fmt.Sprintf("victim-token-%d\n", i)); n != 1 {
				t.Errorf("victim's message %d is in the victim's maildir %d times", i, n)
			}
		}
		if strings.Contains(maildirTexts(t, filepath.Join(hA, "Maildir")), "victim-token") {
			t.Error("the victim's mail reached the attacker's maildir")
		}
		// The daemon and the helper live on and deliver.
		sendMail(t, addr, "s@example.org", userVictim+"@localhost", "Subject: after\r\n\r\nafter-token\r\n")
		waitFor(t, "mail after the attack", 30*time.Second, func() bool {
			return strings.Contains(maildirTexts(t, filepath.Join(hV, "Maildir")), "after-token")
		})
		if strings.Contains(d.log.String(), "lost the local delivery helper") || strings.Contains(d.log.String(), "not waiting") {
			t.Errorf("the attack reached the daemon's channel to the helper")
		}
		if regexp.MustCompile(`(?m)^\S+ delivery 999:`).MatchString(d.log.String()) {
			t.Errorf("the hostile program wrote a line of its own into the daemon's log")
		}
	})
}

// maildirTexts returns every message in a maildir's new/, joined.
func maildirTexts(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	var b strings.Builder
	for _, f := range files {
		b.WriteString(readFile(t, f))
	}
	return b.String()
}
