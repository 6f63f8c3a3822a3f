package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// qmailTree builds a qmail installation's queue in qmail's exact layout:
// mess files made under a temporary name and linked as their inode
// number in split directories, info with "F" sender, local and remote
// with "T" (to do) and "D" (done) recipients, todo with qmail-queue's
// envelope.
type qmailTree struct {
	t     *testing.T
	home  string // QMAILHOME
	queue string
	split uint64
}

func newQmailTree(t *testing.T, dir string) *qmailTree {
	t.Helper()
	q := &qmailTree{t: t, home: dir, queue: filepath.Join(dir, "queue"), split: 23}
	for _, sub := range []string{"mess", "info", "local", "remote"} {
		for i := range q.split {
			q.mkdir(filepath.Join(sub, strconv.FormatUint(i, 10)))
		}
	}
	for _, sub := range []string{"todo", "intd", "bounce", "pid", "lock"} {
		q.mkdir(sub)
	}
	write(t, filepath.Join(q.queue, "lock", "sendmutex"), "")
	return q
}

func (q *qmailTree) mkdir(rel string) {
	if err := os.MkdirAll(filepath.Join(q.queue, rel), 0o755); err != nil {
		q.t.Fatal(err)
	}
}

// mess writes a message as qmail-queue does: pid/NAME, linked to
// mess/S/<its inode>, the pid/ name removed.
func (q *qmailTree) mess(text string) uint64 {
	q.t.Helper()
	tmp := filepath.Join(q.queue, "pid", fmt.Sprintf("%d.%d.1", os.Getpid(), time.Now().UnixNano()))
	write(q.t, tmp, text)
	fi, err := os.Stat(tmp)
	if err != nil {
		q.t.Fatal(err)
	}
	id := fi.Sys().(*syscall.Stat_t).Ino
	if err := os.Link(tmp, q.path("mess", id)); err != nil {
		q.t.Fatal(err)
	}
	os.Remove(tmp)
	return id
}

func (q *qmailTree) path(sub string, id uint64) string {
	if sub == "todo" || sub == "intd" || sub == "bounce" {
		return filepath.Join(q.queue, sub, strconv.FormatUint(id, 10))
	}
	return filepath.Join(q.queue, sub, strconv.FormatUint(id%q.split, 10), strconv.FormatUint(id, 10))
}

// envelope writes records, each ended by NUL, as qmail does.
func (q *qmailTree) envelope(sub string, id uint64, records ...string) {
	write(q.t, q.path(sub, id), strings.Join(records, "\x00")+"\x00")
}

func message(subject string) string {
	return "Received: (qmail 4242 invoked by uid 1000); 1 Dec 2026 10:00:00 -0000\nSubject: " + subject + "\n\nhello from qmail\n"
}

// A stopped qmail's queue moves into gqmail: every recipient qmail had
// not yet done is delivered once, none it had done is delivered again, a
// second import queues nothing, and a damaged entry stays where it was.
func TestMigrateQueueFromQmail(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	startDaemon(t, root, addr, acct).stop() // makes the root and its queue
	q := newQmailTree(t, filepath.Join(filepath.Dir(root), "qmail"))

	pre := q.mess(message("preprocessed"))
	q.envelope("info", pre, "Fsender@example.org")
	q.envelope("local", pre, "Talice@localhost", "Ddone-local@localhost")
	q.envelope("remote", pre, "Ddone-remote@remote.test", "Tbob@remote.test")
	local := q.mess(message("local only"))
	q.envelope("info", local, "F")
	q.envelope("local", local, "Tcarol@localhost")
	finished := q.mess(message("finished"))
	q.envelope("info", finished, "Fsender@example.org")
	q.envelope("local", finished, "Dfinished@localhost")
	todo := q.mess(message("not preprocessed"))
	q.envelope("intd", todo, "u1000", "p4242", "Fsender@example.org", "Tdave@localhost", "Terin@remote.test")
	q.envelope("todo", todo, "u1000", "p4242", "Fsender@example.org", "Tdave@localhost", "Terin@remote.test")
	corrupt := q.mess(message("corrupt"))
	write(t, q.path("info", corrupt), "sender without its F\x00")
	chownTree(t, q.home, acct)

	ctl := func(args ...string) string {
		t.Helper()
		cmd := command(acct, bin("qmailctl"), append([]string{"--root", root, "migrate", "--from", q.home}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("qmailctl migrate %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := ctl("--dry-run", "queue")
	if !strings.Contains(out, "3 messages with 5 recipients to import, 1 finished, 1 damaged") || !strings.Contains(out, "1 of them not yet preprocessed") {
		t.Fatalf("dry run:\n%s", out)
	}
	out = ctl("queue")
	if !strings.Contains(out, "3 messages queued with 5 recipients, 0 imported before") {
		t.Fatalf("import:\n%s", out)
	}
	if !strings.Contains(out, q.path("info", corrupt)+": malformed info") {
		t.Errorf("the corrupt entry is not reported by name:\n%s", out)
	}
	out = ctl("queue")
	if !strings.Contains(out, "0 messages queued with 0 recipients, 3 imported before") {
		t.Fatalf("second import:\n%s", out)
	}
	for _, path := range []string{q.path("mess", corrupt), q.path("info", corrupt), q.path("mess", pre), q.path("todo", todo)} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("the import changed qmail's queue: %v", err)
		}
	}

	d := startDaemon(t, root, addr, acct)
	starting := regexp.MustCompile(`starting delivery (\d+): msg \d+ to (local|remote) (\S+)`)
	succeeded := regexp.MustCompile(`delivery (\d+): success: `)
	want := []string{"local alice@localhost", "local carol@localhost", "local dave@localhost", "remote bob@remote.test", "remote erin@remote.test"}
	waitFor(t, "every recipient left to be tried, each local delivery recorded", 20*time.Second, func() bool {
		log := d.log.String()
		done := map[string]bool{}
		for _, m := range succeeded.FindAllStringSubmatch(log, -1) {
			done[m[1]] = true
		}
		tried := map[string]bool{}
		for _, m := range starting.FindAllStringSubmatch(log, -1) {
			if m[2] == "local" && !done[m[1]] {
				return false
			}
			tried[m[2]+" "+m[3]] = true
		}
		return len(tried) >= len(want) && len(maildirNew(t, root)) >= 3
	})
	// Once the daemon has exited its log is whole; a local recipient
	// still waiting in the queue then is one it would deliver again.
	d.stop()
	for _, line := range strings.Split(strings.TrimSpace(qctlOK(t, root, "queue", "list", "--json")), "\n") {
		var m listedMessage
		if err := json.Unmarshal([]byte(line), &m); line != "" && err != nil {
			t.Fatalf("queue list --json line %q: %v", line, err)
		}
		for _, r := range m.Recipients {
			if strings.HasSuffix(r.Address, "@localhost") && r.State != "delivered" {
				t.Errorf("after its delivery, %s is still in the queue, %s: it would be delivered again", r.Address, r.State)
			}
		}
	}
	var got []string
	for _, m := range starting.FindAllStringSubmatch(d.log.String(), -1) {
		if m[2] == "local" || !slices.Contains(got, m[2]+" "+m[3]) { // remote retries may come later
			got = append(got, m[2]+" "+m[3])
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("deliveries started: %v\nwant each of %v once", got, want)
	}
	var subjects []string
	for _, f := range maildirNew(t, root) {
		b, _ := os.ReadFile(f)
		if m := regexp.MustCompile(`(?m)^Subject: (.*)$`).FindSubmatch(b); m != nil {
			subjects = append(subjects, string(m[1]))
		}
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{"local only", "not preprocessed", "preprocessed"}) {
		t.Errorf("the Maildir holds %v", subjects)
	}
	if out := ctl("queue"); !strings.Contains(out, "3 imported before") {
		t.Errorf("an import after the delivery:\n%s", out)
	}
}

// qmail-send's lock held: the queue is not touched.
func TestMigrateQueueRefusesARunningQmail(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	startDaemon(t, root, addr, acct).stop()
	q := newQmailTree(t, filepath.Join(filepath.Dir(root), "qmail"))
	id := q.mess(message("x"))
	q.envelope("info", id, "Fa@example.org")
	q.envelope("local", id, "Talice@localhost")
	lock, err := os.Open(filepath.Join(q.queue, "lock", "sendmutex"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin("qmailctl"), "--root", root, "migrate", "--from", q.home, "queue").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 111 || !strings.Contains(string(out), "qmail-send is running") {
		t.Fatalf("with qmail-send's lock held: %v\n%s", err, out)
	}
}

// The import opens queue.db itself: with the daemon running it says so
// and queues nothing.
func TestMigrateQueueRefusesARunningDaemon(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	d := startDaemon(t, root, addr, acct)
	q := newQmailTree(t, filepath.Join(filepath.Dir(root), "qmail"))
	id := q.mess(message("x"))
	q.envelope("info", id, "Fa@example.org")
	q.envelope("local", id, "Talice@localhost")
	chownTree(t, q.home, acct)
	out, err := command(acct, bin("qmailctl"), "--root", root, "migrate", "--from", q.home, "queue").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 111 || !strings.Contains(string(out), "the gqmail daemon must be stopped") {
		t.Fatalf("with the daemon running: %v\n%s", err, out)
	}
	// Anything the import had queued is, once it exited, either still in
	// the queue or delivered: asked in that order, an empty queue and
	// then an empty Maildir mean nothing was queued.
	if !queueEmpty(t, root) {
		t.Fatalf("the import queued something:\n%s", qctlOK(t, root, "queue", "list"))
	}
	if len(maildirNew(t, root)) != 0 || strings.Contains(d.log.String(), "starting delivery") {
		t.Fatalf("something was delivered:\n%s", d.log)
	}
}

// control and users: qmail's files checked and copied, users/cdb read
// when users/assign is missing, a differing file refused without --force.
func TestMigrateControlAndUsers(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	startDaemon(t, root, addr, acct).stop()
	home := filepath.Join(filepath.Dir(root), "qmail")
	write(t, filepath.Join(home, "control", "me"), "mail.example.org\n")
	write(t, filepath.Join(home, "control", "smtproutes"), ":relay.example.net\n")
	write(t, filepath.Join(home, "control", "morercpthosts.cdb"), "compiled")
	write(t, filepath.Join(home, "users", "assign"), goodAssign)

	out, err := qmailctl(t, root, "migrate", "--from", home, "control")
	if err == nil || !strings.Contains(out, "me: "+filepath.Join(root, "control", "me")+" differs") || !strings.Contains(out, "--force") {
		t.Fatalf("control over the root's own me: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "control", "smtproutes")); err == nil {
		t.Fatal("smtproutes was copied although the step was refused")
	}
	if out, err = qmailctl(t, root, "migrate", "--from", home, "--force", "control"); err != nil || !strings.Contains(out, "control: 2 copied") || !strings.Contains(out, "ignored   morercpthosts.cdb") {
		t.Fatalf("control --force: %v\n%s", err, out)
	}
	if out, err = qmailctl(t, root, "migrate", "--from", home, "users"); err != nil || !strings.Contains(out, "4 assignments imported") {
		t.Fatalf("users: %v\n%s", err, out)
	}
	if out, err = qmailctl(t, root, "users", "export"); err != nil || out != goodAssign {
		t.Fatalf("export after the migration: %v\n%s", err, out)
	}
}

// Run as root, the import never opens anything in the root's queue/ as
// root: the daemon's account owns that directory, and a queue/bodies it
// pointed at a directory of root's must not make root give away the files
// there or create any. The store side runs as queue/'s owner, whose files
// it makes. qmail's queue is read without following links or opening a
// FIFO: a mess file linked to a secret, a FIFO in todo/, are damaged.
func TestMigrateQueueAsRootTrustsNothingInTheRootsQueue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root, addr, acct := setupRoot(t, "", nil)
	startDaemon(t, root, addr, acct).stop()
	queue := filepath.Join(root, "queue")
	q := newQmailTree(t, filepath.Join(filepath.Dir(root), "qmail"))
	small := q.mess(message("small"))
	q.envelope("info", small, "Fsender@example.org")
	q.envelope("local", small, "Talice@localhost")
	large := q.mess(message("large") + strings.Repeat("a large body line\n", 10000))
	q.envelope("info", large, "Fsender@example.org")
	q.envelope("local", large, "Tbob@localhost")
	secret := filepath.Join(t.TempDir(), "shadow")
	write(t, secret, "root:$6$secret\n")
	const linked = 46
	if err := os.Symlink(secret, q.path("mess", linked)); err != nil {
		t.Fatal(err)
	}
	q.envelope("todo", linked, "u1024", "p123", "Fjoe@example.org", "Tattacker@evil.example")
	fifo := q.mess(message("fifo"))
	if err := syscall.Mkfifo(q.path("todo", fifo), 0o644); err != nil {
		t.Fatal(err)
	}

	// The daemon's account plants queue/bodies -> a directory of root's.
	victim := t.TempDir()
	os.Chmod(victim, 0o755)
	write(t, filepath.Join(victim, "file"), "root's\n")
	bodies := filepath.Join(queue, "bodies")
	os.Rename(bodies, bodies+".real")
	if err := os.Symlink(victim, bodies); err != nil {
		t.Fatal(err)
	}
	os.Lchown(bodies, acct.uid, acct.gid)

	ctl := func() (string, error) {
		cmd := exec.Command(bin("qmailctl"), "--root", root, "migrate", "--from", q.home, "queue")
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
			}
		}()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := ctl()
	t.Logf("with queue/bodies planted: %v\n%s", err, out)
	for _, want := range []string{q.path("mess", linked) + ": ", "symbolic link", q.path("todo", fifo) + ": ", "FIFO"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not name %q", want)
		}
	}
	if strings.Contains(out, "panic") {
		t.Errorf("panic:\n%s", out)
	}
	entries, _ := os.ReadDir(victim)
	if len(entries) != 1 || entries[0].Name() != "file" {
		t.Errorf("the import made files in the planted directory: %v", entries)
	}
	fi, err := os.Stat(filepath.Join(victim, "file"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("root's file in the planted directory changed hands: %v", err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the planted directory changed hands: %v", err)
	}

	os.Remove(bodies)
	os.Rename(bodies+".real", bodies)
	out, err = ctl()
	if err != nil || !strings.Contains(out, "2 messages with 2 recipients to import") || !strings.Contains(out, "imported before") {
		t.Fatalf("the import again: %v\n%s", err, out)
	}
	// What it made in queue/ is the daemon's account's own.
	filepath.Walk(queue, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Sys().(*syscall.Stat_t).Uid != uint32(acct.uid) {
			t.Errorf("%s belongs to uid %d, not the daemon's account", p, fi.Sys().(*syscall.Stat_t).Uid)
		}
		return nil
	})
	d := startDaemon(t, root, addr, acct)
	// An empty queue after both deliveries: nothing else was imported
	// to be delivered, now or later.
	waitFor(t, "both messages delivered and the queue empty", 20*time.Second, func() bool {
		return len(maildirNew(t, root)) >= 2 && queueEmpty(t, root)
	})
	d.stop()
	if n := len(maildirNew(t, root)); n != 2 || strings.Contains(d.log.String(), "evil.example") {
		t.Errorf("%d delivered; log:\n%s", n, d.log)
	}
}

// queueEmpty asks qmailctl queue stat (through the daemon while it runs)
// whether the root's queue holds no message.
func queueEmpty(t *testing.T, root string) bool {
	t.Helper()
	out := qctlOK(t, root, "queue", "stat")
	return strings.HasPrefix(out, "messages in queue: 0\n")
}
