package inject

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/qlog"
)

type notice struct {
	uid         int
	sender, why string
}

func pickupFixture(t *testing.T) (*fixture, *Pickup, *[]notice) {
	t.Helper()
	f := serve(t, nil, 1<<20)
	dir := filepath.Join(t.TempDir(), "pickup")
	os.Mkdir(dir, 0o733|os.ModeSticky)
	var notices []notice
	p := &Pickup{
		Dir: dir, Queue: f.db, Log: qlog.New(io.Discard, "plain"), MaxMessageBytes: 1 << 20,
		Bounce: func(uid int, sender, why string) { notices = append(notices, notice{uid, sender, why}) },
		Now:    func() time.Time { return time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC) },
	}
	return f, p, &notices
}

func writePickup(t *testing.T, dir, body, sender string, rcpts ...string) {
	t.Helper()
	w, err := submission.NewPickup(dir)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	if err := w.Commit(sender, rcpts); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A complete file is queued as its owner's, with the trace line naming
// the owner's uid, and removed after the commit.
func TestPickupQueuesCompleteFilesAsTheirOwners(t *testing.T) {
	f, p, _ := pickupFixture(t)
	writePickup(t, p.Dir, "Received: (qmail 1 invoked by uid 0); forged\nSubject: x\n\nbody\n", "s@example.org", "u@localhost", "v@far.example")
	n, err := p.Scan(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Scan = %d, %v", n, err)
	}
	envs, bodies := f.queued(t)
	if len(envs) != 1 || envs[0].Origin.Kind != "local" || envs[0].Origin.UID != os.Getuid() || envs[0].Sender != "s@example.org" {
		t.Fatalf("queued %+v", envs)
	}
	first, _, _ := strings.Cut(bodies[0], "\n")
	if first != "Received: (qmail pickup invoked by uid "+strconv.Itoa(os.Getuid())+"); 2 Dec 2026 03:04:05 -0000" {
		t.Fatalf("first line %q", first)
	}
	if rs, _ := f.db.Recipients(envs[0].ID); len(rs) != 2 {
		t.Fatalf("%d recipients", len(rs))
	}
	if left := names(t, p.Dir); len(left) != 0 {
		t.Fatalf("left in the directory: %v", left)
	}
}

// A file being written (locked) is left alone; one whose writer died
// before it finished is removed; one that is complete but kept its
// temporary name (a rename lost in a crash) is taken.
func TestPickupTakesOnlyWhatIsFinished(t *testing.T) {
	f, p, _ := pickupFixture(t)
	busy, err := submission.NewPickup(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(busy, "Subject: in progress\n")
	// A writer killed mid-message leaves an unlocked, incomplete file.
	os.WriteFile(filepath.Join(p.Dir, "tmp.dead"), []byte("Subject: the writer was killed\n"), 0o644)
	done, _ := submission.NewPickup(p.Dir)
	io.WriteString(done, "Subject: complete\n\nbody\n")
	doneName := done.Name()
	// Commit, then undo the rename: a crash lost it.
	if err := done.Commit("s@example.org", []string{"u@localhost"}); err != nil {
		t.Fatal(err)
	}
	os.Rename(strings.Replace(doneName, "tmp.", "msg.", 1), doneName)

	if n, _ := p.Scan(context.Background()); n != 1 {
		t.Fatalf("Scan queued %d, want the complete file only", n)
	}
	if _, bodies := f.queued(t); len(bodies) != 1 || !strings.Contains(bodies[0], "Subject: complete") {
		t.Fatalf("queued %q", bodies)
	}
	left := names(t, p.Dir)
	if len(left) != 1 || filepath.Join(p.Dir, left[0]) != busy.Name() {
		t.Fatalf("left %v; want only the file being written", left)
	}
	if err := busy.Commit("s@example.org", []string{"u@localhost"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Scan(context.Background()); n != 1 {
		t.Fatalf("the finished file was not taken: %d", n)
	}
}

// A file that cannot be taken is moved aside, and its submitter told;
// it never blocks the files behind it.
func TestPickupSetsAsideWhatItCannotTake(t *testing.T) {
	f, p, notices := pickupFixture(t)
	p.MaxMessageBytes = 100
	writePickup(t, p.Dir, strings.Repeat("x", 200), "big@example.org", "u@localhost")
	writePickup(t, p.Dir, "Subject: no one\n", "s@example.org")
	bad := filepath.Join(p.Dir, "msg.broken")
	os.WriteFile(bad, []byte("not a pickup file at all"), 0o644)
	writePickup(t, p.Dir, "Subject: fine\n\nok\n", "s@example.org", "u@localhost")

	if n, _ := p.Scan(context.Background()); n != 1 {
		t.Fatalf("Scan queued %d, want the good one", n)
	}
	if got := names(t, filepath.Join(p.Dir, "bad")); len(got) != 3 {
		t.Fatalf("set aside: %v", got)
	}
	whys := ""
	for _, n := range *notices {
		whys += n.sender + ": " + n.why + "\n"
	}
	for _, want := range []string{"big@example.org: it is 200 bytes, more than the limit of 100", "s@example.org: it has no recipients", ": it is incomplete"} {
		if !strings.Contains(whys, want) {
			t.Errorf("notices lack %q:\n%s", want, whys)
		}
	}
	if _, bodies := f.queued(t); len(bodies) != 1 || !strings.Contains(bodies[0], "Subject: fine") {
		t.Fatalf("queued %q", bodies)
	}
}

// The uid is the file's owner's, whatever the file says.
func TestPickupUIDIsTheOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it gives a pickup file to another uid")
	}
	f, p, _ := pickupFixture(t)
	writePickup(t, p.Dir, "Subject: x\n\nuid 0 says so\n", "s@example.org", "u@localhost")
	for _, n := range names(t, p.Dir) {
		os.Chown(filepath.Join(p.Dir, n), 4321, 4321)
	}
	if n, _ := p.Scan(context.Background()); n != 1 {
		t.Fatal("not taken")
	}
	envs, bodies := f.queued(t)
	if envs[0].Origin.UID != 4321 || !strings.HasPrefix(bodies[0], "Received: (qmail pickup invoked by uid 4321)") {
		t.Fatalf("origin %+v, body %q", envs[0].Origin, bodies[0])
	}

}

// What a hostile local user can put in the directory besides a message
// file is removed unread and credited to no one: a symbolic link, a FIFO
// (which would block a reader), a hard link to another's file. A trailer
// that claims a huge envelope is set aside without reading it. None of
// them stops the good file behind them.
func TestPickupDropsWhatIsNoMessageFile(t *testing.T) {
	f, p, notices := pickupFixture(t)
	victim := filepath.Join(t.TempDir(), "victim")
	writePickup(t, p.Dir, "Subject: the victim's\n\nx\n", "victim@example.org", "u@localhost")
	// Move the good file out to play the victim's, then link to it.
	for _, n := range names(t, p.Dir) {
		if err := os.Rename(filepath.Join(p.Dir, n), victim); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(victim, filepath.Join(p.Dir, "msg.hardlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(p.Dir, "msg.symlink")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(p.Dir, "msg.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := "F\x00T" + strings.Repeat("a", maxPickupEnvelope) + "\x00\x00"
	huge := binaryTrailer([]byte("Subject: x\n\n"+env), 12, uint64(len(env)))
	os.WriteFile(filepath.Join(p.Dir, "msg.huge"), huge, 0o644)
	writePickup(t, p.Dir, "Subject: fine\n\nok\n", "s@example.org", "u@localhost")

	done := make(chan int)
	go func() { n, _ := p.Scan(context.Background()); done <- n }()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("Scan queued %d, want the good one", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Scan is stuck (on the FIFO?)")
	}
	if got := names(t, p.Dir); len(got) != 1 || got[0] != "bad" {
		t.Fatalf("left in the directory: %v", got)
	}
	if got := names(t, filepath.Join(p.Dir, "bad")); len(got) != 1 || got[0] != "msg.huge" {
		t.Fatalf("set aside: %v", got)
	}
	if len(*notices) != 1 || !strings.Contains((*notices)[0].why, "its envelope is "+strconv.Itoa(len(env))+" bytes") {
		t.Fatalf("notices: %+v", *notices)
	}
	if b, err := os.ReadFile(victim); err != nil || !strings.Contains(string(b), "the victim's") {
		t.Fatalf("the victim's file: %v", err)
	}
	if _, bodies := f.queued(t); len(bodies) != 1 || !strings.Contains(bodies[0], "Subject: fine") {
		t.Fatalf("queued %q", bodies)
	}
}

// binaryTrailer appends a trailer claiming msgLen and envLen.
func binaryTrailer(b []byte, msgLen, envLen uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, msgLen)
	b = binary.BigEndian.AppendUint64(b, envLen)
	return append(b, submission.PickupMagic...)
}

// A directory of more files than one read of it returns is emptied in
// one scan.
func TestPickupScansPastOneBatch(t *testing.T) {
	f, p, _ := pickupFixture(t)
	const n = scanBatch + 7
	for i := range n {
		writePickup(t, p.Dir, "Subject: "+strconv.Itoa(i)+"\n\nx\n", "s@example.org", "u@localhost")
	}
	if got, err := p.Scan(context.Background()); got != n || err != nil {
		t.Fatalf("Scan queued %d (%v), want %d", got, err, n)
	}
	if left := names(t, p.Dir); len(left) != 0 {
		t.Fatalf("%d files left", len(left))
	}
	if envs, _ := f.db.List(0, 2*n); len(envs) != n {
		t.Fatalf("%d queued", len(envs))
	}
}

// Another user may make pickup/bad before the daemon needs it, to read
// what is set aside there, or make it a link back into pickup/ so that
// one file is bounced for ever. Neither is used: it is renamed out of the
// scan and the daemon makes its own.
func TestPickupBadIsTheDaemonsOwn(t *testing.T) {
	for _, plant := range []func(bad string) error{
		func(bad string) error { return os.Mkdir(bad, 0o777) },
		func(bad string) error { return os.Symlink(".", bad) },
		func(bad string) error { return os.WriteFile(bad, nil, 0o644) },
	} {
		_, p, notices := pickupFixture(t)
		bad := filepath.Join(p.Dir, "bad")
		if err := plant(bad); err != nil {
			t.Fatal(err)
		}
		os.Chmod(bad, 0o777) // the umask took some
		writePickup(t, p.Dir, "Subject: no one\n", "s@example.org")
		p.Scan(context.Background())
		p.Scan(context.Background())
		fi, err := os.Lstat(bad)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("bad/: %v %v", fi.Mode(), err)
		}
		if got := names(t, bad); len(got) != 1 || !strings.HasPrefix(got[0], "msg.") {
			t.Fatalf("bad/ holds %v", got)
		}
		if len(*notices) != 1 {
			t.Fatalf("%d notices, want 1", len(*notices))
		}
		junk := 0
		for _, n := range names(t, p.Dir) {
			if strings.HasPrefix(n, "junk.") {
				junk++
			}
		}
		if junk != 1 {
			t.Fatalf("the planted bad/ was not renamed out of the way: %v", names(t, p.Dir))
		}
	}
}

// Entries no writer of ours leaves are dealt with once, and logged once,
// with their names escaped: a socket, a directory with something in it, a
// file others may write (its owner need not be who wrote it), a name
// with a terminal escape. A writer's fresh new. file is left alone; a
// stale one is removed.
func TestPickupDealsWithJunkOnce(t *testing.T) {
	f, p, _ := pickupFixture(t)
	var log strings.Builder
	p.Log = qlog.New(&log, "plain")
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)
	if err := unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(p.Dir, "msg.socket")}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(p.Dir, "msg.dir", "inside"), 0o755)
	writePickup(t, p.Dir, "Subject: shared\n\nx\n", "s@example.org", "u@localhost")
	for _, n := range names(t, p.Dir) {
		if strings.HasPrefix(n, "msg.") && n != "msg.socket" && n != "msg.dir" {
			os.Chmod(filepath.Join(p.Dir, n), 0o666)
		}
	}
	os.WriteFile(filepath.Join(p.Dir, "msg.\x1b[2Jescape"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(p.Dir, "new.fresh"), nil, 0o644)
	os.WriteFile(filepath.Join(p.Dir, "new.stale"), nil, 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(p.Dir, "new.stale"), old, old)

	for range 3 {
		if n, _ := p.Scan(context.Background()); n != 0 {
			t.Fatalf("Scan queued %d", n)
		}
	}
	if envs, _ := f.queued(t); len(envs) != 0 {
		t.Fatalf("%d queued", len(envs))
	}
	left := strings.Join(names(t, p.Dir), " ")
	if !strings.Contains(left, "new.fresh") || strings.Contains(left, "new.stale") || strings.Contains(left, "msg.") {
		t.Fatalf("left: %s", left)
	}
	if strings.ContainsRune(log.String(), '\x1b') {
		t.Fatalf("a raw escape reached the log:\n%s", log.String())
	}
	if n := strings.Count(log.String(), "\n"); n != 5 {
		t.Fatalf("%d log lines, want one for each of the 5 entries:\n%s", n, log.String())
	}
}

// A file of qmaild smtpd's (a trusted uid) may hold smtpd's Received line
// beyond the limit, as on the socket.
func TestPickupGivesSMTPItsHeadroom(t *testing.T) {
	f, p, _ := pickupFixture(t)
	p.MaxMessageBytes = 100
	writePickup(t, p.Dir, strings.Repeat("x", 150), "s@example.org", "u@localhost")
	p.TrustedUIDs = []int{os.Geteuid()}
	if n, _ := p.Scan(context.Background()); n != 1 {
		t.Fatalf("not taken")
	}
	if envs, _ := f.queued(t); len(envs) != 1 {
		t.Fatalf("%d queued", len(envs))
	}
}
