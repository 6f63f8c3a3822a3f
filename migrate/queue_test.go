package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// qmailQueue builds a queue directory in qmail's layout.
type qmailQueue struct {
	t     *testing.T
	dir   string
	split int
}

func newQmailQueue(t *testing.T, split int) *qmailQueue {
	t.Helper()
	q := &qmailQueue{t: t, dir: filepath.Join(t.TempDir(), "queue"), split: split}
	for _, sub := range []string{"mess", "info", "local", "remote"} {
		for i := range split {
			q.mkdir(filepath.Join(sub, strconv.Itoa(i)))
		}
	}
	for _, sub := range []string{"todo", "intd", "bounce", "pid", "lock"} {
		q.mkdir(sub)
	}
	q.write("lock/sendmutex", "")
	return q
}

func (q *qmailQueue) mkdir(rel string) {
	if err := os.MkdirAll(filepath.Join(q.dir, rel), 0o750); err != nil {
		q.t.Fatal(err)
	}
}

func (q *qmailQueue) write(rel, data string) string {
	q.t.Helper()
	path := filepath.Join(q.dir, rel)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		q.t.Fatal(err)
	}
	return path
}

// mess makes a message file as qmail-queue does: under a name in pid/,
// linked as mess/S/<inode>, the pid/ name removed. It returns the id.
func (q *qmailQueue) mess(body string) uint64 {
	q.t.Helper()
	tmp := q.write(fmt.Sprintf("pid/%d.%d.1", os.Getpid(), time.Now().UnixNano()), body)
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

// path is the file of message id in sub, split or not as qmail has it.
func (q *qmailQueue) path(sub string, id uint64) string {
	switch sub {
	case "todo", "intd", "bounce":
		return filepath.Join(q.dir, sub, strconv.FormatUint(id, 10))
	}
	return filepath.Join(q.dir, sub, strconv.FormatUint(id%uint64(q.split), 10), strconv.FormatUint(id, 10))
}

func (q *qmailQueue) put(sub string, id uint64, data string) {
	q.t.Helper()
	if err := os.WriteFile(q.path(sub, id), []byte(data), 0o644); err != nil {
		q.t.Fatal(err)
	}
}

// preprocessed queues a message as qmail-send leaves it after todo/.
func (q *qmailQueue) preprocessed(sender string, local, remote []string) uint64 {
	id := q.mess("Subject: " + sender + "\n\nbody\n")
	q.put("info", id, "F"+sender+"\x00")
	if local != nil {
		q.put("local", id, strings.Join(local, "\x00")+"\x00")
	}
	if remote != nil {
		q.put("remote", id, strings.Join(remote, "\x00")+"\x00")
	}
	return id
}

func TestScanSortsEveryKindOfEntry(t *testing.T) {
	q := newQmailQueue(t, 23)
	mixed := q.preprocessed("a@x.test", []string{"Tlocal1@here.test", "Dlocal2@here.test"}, []string{"Dr1@far.test", "Tr2@far.test"})
	finished := q.preprocessed("b@x.test", []string{"Dl@here.test"}, []string{"Dr@far.test"})
	q.put("bounce", finished, "Dr@far.test\x00")
	todo := q.mess("Subject: todo\n\n")
	q.put("todo", todo, "u1000\x00p4242\x00Fc@x.test\x00Tu1@here.test\x00Tu2@far.test\x00")
	q.put("intd", todo, "u1000\x00p4242\x00Fc@x.test\x00Tu1@here.test\x00Tu2@far.test\x00")
	// A stale info left from an interrupted preprocessing: todo wins.
	q.put("info", todo, "Fstale@x.test\x00")

	type damage struct{ path, reason string }
	var want []damage
	bad := func(path, reason string) { want = append(want, damage{path, reason}) }

	id := q.mess("no info\n")
	q.put("local", id, "Tx@here.test\x00")
	bad(q.path("mess", id), "neither info/ nor todo/")
	id = q.mess("intd only\n")
	q.put("intd", id, "u0\x00p1\x00Fa@b\x00Tc@d\x00")
	bad(q.path("mess", id), "intd/ but no todo/")
	q.put("info", 4600, "Fghost@x.test\x00") // 4600 mod 23 = 0
	bad(q.path("info", 4600), "the message itself is missing")
	q.put("todo", 4601, "u0\x00p1\x00Fa@b\x00Tc@d\x00")
	bad(q.path("todo", 4601), "the message itself is missing")
	id = q.mess("info is a directory\n")
	os.Mkdir(q.path("info", id), 0o755)
	bad(q.path("info", id), "is a directory")
	id = q.mess("info without F\n")
	q.put("info", id, "a@x.test\x00")
	bad(q.path("info", id), "malformed info")
	id = q.mess("info cut short\n")
	q.put("info", id, "Fa@x.test")
	bad(q.path("info", id), "no final NUL")
	id = q.mess("local with an odd record\n")
	q.put("info", id, "Fa@x.test\x00")
	q.put("local", id, "Tok@here.test\x00Xodd@here.test\x00")
	bad(q.path("local", id), `record 2 is "Xodd@here.test"`)
	id = q.mess("remote with an empty recipient\n")
	q.put("info", id, "Fa@x.test\x00")
	q.put("remote", id, "T\x00")
	bad(q.path("remote", id), "empty recipient")
	id = q.mess("todo without a sender\n")
	q.put("todo", id, "u0\x00p1\x00Tc@d\x00")
	bad(q.path("todo", id), "a recipient before the sender")
	id = q.mess("todo without recipients\n")
	q.put("todo", id, "u0\x00p1\x00Fa@b\x00")
	bad(q.path("todo", id), "no T<rcpt>")
	q.write("mess/3/junk", "x")
	bad(filepath.Join(q.dir, "mess/3/junk"), "the name is not a message id")
	q.write("mess/3/4600", "x") // belongs in 0
	bad(filepath.Join(q.dir, "mess/3/4600"), "wrong split directory")

	s, err := ScanQueue(q.dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Split != 23 {
		t.Errorf("split = %d, want 23", s.Split)
	}
	if s.Finished != 1 {
		t.Errorf("finished = %d, want 1", s.Finished)
	}
	if len(s.Warnings) != 1 || s.Warnings[0].Path != q.path("bounce", finished) {
		t.Errorf("warnings = %v, want the bounce of %d", s.Warnings, finished)
	}
	if len(s.Messages) != 2 {
		t.Fatalf("messages = %+v", s.Messages)
	}
	for _, m := range s.Messages {
		switch m.ID {
		case mixed:
			wantRoutes := []route.Route{{Deliver: "local1@here.test", Channel: route.Local}, {Deliver: "r2@far.test", Channel: route.Remote}}
			if m.Sender != "a@x.test" || !slices.Equal(m.Recipients, []string{"local1@here.test", "r2@far.test"}) || !slices.Equal(m.Routes, wantRoutes) || m.Done != 2 {
				t.Errorf("preprocessed message = %+v", m)
			}
			if info, _ := os.Stat(q.path("info", mixed)); !m.Arrived.Equal(info.ModTime()) {
				t.Errorf("arrival %v, want info's mtime %v", m.Arrived, info.ModTime())
			}
		case todo:
			if m.Sender != "c@x.test" || m.UID != 1000 || m.Preprocessed() || !slices.Equal(m.Recipients, []string{"u1@here.test", "u2@far.test"}) {
				t.Errorf("todo message = %+v", m)
			}
		default:
			t.Errorf("unexpected message %+v", m)
		}
		if !strings.HasPrefix(m.Key, fmt.Sprintf("qmail:%d:", m.ID)) {
			t.Errorf("key %q", m.Key)
		}
	}
	for _, w := range want {
		i := slices.IndexFunc(s.Damaged, func(d QueueProblem) bool { return d.Path == w.path })
		if i < 0 {
			t.Errorf("%s not reported damaged (want %q)", w.path, w.reason)
			continue
		}
		if !strings.Contains(s.Damaged[i].Reason, w.reason) {
			t.Errorf("%s: reason %q, want %q", w.path, s.Damaged[i].Reason, w.reason)
		}
	}
	if len(s.Damaged) != len(want) {
		t.Errorf("%d damaged, want %d: %v", len(s.Damaged), len(want), s.Damaged)
	}
}

func TestScanDetectsTheSplit(t *testing.T) {
	q := newQmailQueue(t, 7)
	id := q.preprocessed("a@x.test", []string{"Tl@here.test"}, nil)
	s, err := ScanQueue(q.dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Split != 7 || len(s.Messages) != 1 || s.Messages[0].ID != id {
		t.Fatalf("split %d, messages %+v", s.Split, s.Messages)
	}
	os.RemoveAll(filepath.Join(q.dir, "mess", "3")) // the message may be in it
	if _, err := ScanQueue(q.dir); err == nil || !strings.Contains(err.Error(), "3 is missing") {
		t.Fatalf("a gap in the split directories: %v", err)
	}
	if _, err := ScanQueue(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a qmail queue") {
		t.Fatalf("an empty directory: %v", err)
	}
}

func TestImportQueuesOnceWithRoutesAndBirth(t *testing.T) {
	q := newQmailQueue(t, 23)
	mixed := q.preprocessed("a@x.test", []string{"Tjoe-info@virtual.test", "Dl2@here.test"}, []string{"Tr@far.test"})
	birth := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	os.Chtimes(q.path("info", mixed), birth, birth)
	todo := q.mess(strings.Repeat("large body line\n", store.InlineMax/16+10))
	q.put("todo", todo, "u1000\x00p1\x00F\x00Tu@here.test\x00")

	db, err := store.Open(filepath.Join(t.TempDir(), "queue.db"), store.Options{Route: func(a string) route.Route {
		return route.Route{Deliver: "routed-" + a, Channel: route.Local}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := ScanQueue(q.dir)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	res, err := ImportQueue(context.Background(), db, s, ImportOptions{Progress: func(int) { calls++ }})
	if err != nil || res.Queued != 2 || res.Recipients != 3 || res.Skipped != 0 || len(res.Failed) != 0 || calls != 2 {
		t.Fatalf("first import = %+v, %v (progress calls %d)", res, err, calls)
	}
	res, err = ImportQueue(context.Background(), db, s, ImportOptions{})
	if err != nil || res.Queued != 0 || res.Skipped != 2 {
		t.Fatalf("second import = %+v, %v", res, err)
	}
	if n, pending, _ := db.Count(); n != 2 || pending != 3 {
		t.Fatalf("queue holds %d messages, %d pending; want 2, 3", n, pending)
	}
	envs, _ := db.List(0, 10)
	for _, env := range envs {
		st, _ := db.Recipients(env.ID)
		var got []string
		for _, r := range st {
			got = append(got, r.Channel.String()+":"+r.Deliver)
		}
		switch env.Sender {
		case "a@x.test":
			if !env.Received.Equal(birth) {
				t.Errorf("arrival %v, want info's mtime %v", env.Received, birth)
			}
			if !slices.Equal(got, []string{"local:joe-info@virtual.test", "remote:r@far.test"}) {
				t.Errorf("preprocessed recipients %v: qmail's routes must be kept", got)
			}
		case "":
			if !slices.Equal(got, []string{"local:routed-u@here.test"}) || env.Origin.UID != 1000 || env.BodyFile == "" {
				t.Errorf("todo message: recipients %v, origin %+v, body file %q", got, env.Origin, env.BodyFile)
			}
			body, _ := db.Body(env.ID)
			if want, _ := os.ReadFile(q.path("mess", todo)); string(body) != string(want) {
				t.Errorf("body of %d bytes, want %d", len(body), len(want))
			}
		default:
			t.Errorf("unexpected message %+v", env)
		}
	}
}

func TestImportListsAMessThatVanishedAndGoesOn(t *testing.T) {
	q := newQmailQueue(t, 23)
	gone := q.preprocessed("a@x.test", []string{"Tl@here.test"}, nil)
	q.preprocessed("b@x.test", []string{"Tl@here.test"}, nil)
	s, err := ScanQueue(q.dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(q.path("mess", gone))
	db, err := store.Open(filepath.Join(t.TempDir(), "queue.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := ImportQueue(context.Background(), db, s, ImportOptions{Workers: 1})
	if err != nil || res.Queued != 1 || len(res.Failed) != 1 || res.Failed[0].Path != q.path("mess", gone) {
		t.Fatalf("import = %+v, %v", res, err)
	}
}

func TestCheckQmailStoppedSeesTheLock(t *testing.T) {
	q := newQmailQueue(t, 1)
	if err := CheckQmailStopped(q.dir); err != nil {
		t.Fatalf("no one holds the lock: %v", err)
	}
	// Another open file description, as qmail-send's would be.
	f, err := os.OpenFile(filepath.Join(q.dir, "lock", "sendmutex"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := CheckQmailStopped(q.dir); !errors.Is(err, ErrQmailRunning) {
		t.Fatalf("qmail-send's lock is held: %v", err)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if err := CheckQmailStopped(t.TempDir()); err != nil {
		t.Fatalf("no sendmutex at all: %v", err)
	}
}

func FuzzQueueEnvelopes(f *testing.F) {
	for _, s := range []string{"Fa@b\x00", "Tx@y\x00Dz@w\x00", "u0\x00p1\x00Fa@b\x00Tc@d\x00", "", "T", "\x00\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := parseInfo(data); err == nil && strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("sender %q holds a NUL", s)
		}
		if pending, done, err := parseChannel(data); err == nil {
			if len(pending)+done != bytes.Count(data, []byte{0}) {
				t.Fatalf("%d pending + %d done for %d records", len(pending), done, bytes.Count(data, []byte{0}))
			}
			for _, r := range pending {
				if r == "" {
					t.Fatal("an empty recipient")
				}
			}
		}
		if _, _, rcpts, err := parseTodo(data); err == nil && len(rcpts) == 0 {
			t.Fatal("a todo envelope without recipients")
		}
	})
}
