package migrate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// qmailq can write mess/ and todo/: a mess file that is a symbolic link
// (to /etc/shadow, say) or has a second link, and a todo entry that is a
// FIFO, are damaged entries, never read (the FIFO does not block the
// scan) and never queued.
func TestScanRefusesLinksAndFIFOs(t *testing.T) {
	q := newQmailQueue(t, 23)
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const linked = 46 // 46 mod 23 = 0
	if err := os.Symlink(secret, q.path("mess", linked)); err != nil {
		t.Fatal(err)
	}
	q.put("todo", linked, "u1024\x00p123\x00Fjoe@mail.test\x00Tattacker@evil.example\x00")

	hard := uint64(47)
	if err := os.Link(secret, q.path("mess", hard)); err != nil {
		t.Fatal(err)
	}
	q.put("info", hard, "Fjoe@mail.test\x00")
	q.put("remote", hard, "Tattacker@evil.example\x00")

	fifo := q.mess("Subject: fifo\n\n")
	if err := unix.Mkfifo(q.path("todo", fifo), 0o644); err != nil {
		t.Fatal(err)
	}
	infoLink := q.mess("Subject: info link\n\n")
	if err := os.Symlink(secret, q.path("info", infoLink)); err != nil {
		t.Fatal(err)
	}
	good := q.preprocessed("a@x.test", []string{"Tl@here.test"}, nil)
	// mess/1 a link to another directory: not followed.
	elsewhere := t.TempDir()
	os.WriteFile(filepath.Join(elsewhere, "24"), []byte("x"), 0o644)
	mess1 := filepath.Join(q.dir, "mess", "1")
	if err := os.Rename(mess1, mess1+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, mess1); err != nil {
		t.Fatal(err)
	}
	scan := func() (*QueueScan, error) {
		type result struct {
			s   *QueueScan
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := ScanQueue(q.dir)
			done <- result{s, err}
		}()
		select {
		case r := <-done:
			return r.s, r.err
		case <-time.After(10 * time.Second):
			t.Fatal("the scan blocks on a FIFO")
		}
		return nil, nil
	}
	s, err := scan()
	if err == nil {
		t.Fatalf("a split directory that is a symbolic link: the scan went on (%+v)", s)
	}
	if !strings.Contains(err.Error(), "1 is missing") {
		t.Errorf("error %v does not say why", err)
	}
	os.Remove(mess1)
	if err := os.Rename(mess1+".real", mess1); err != nil {
		t.Fatal(err)
	}
	if s, err = scan(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	wantDamaged := map[string]string{
		q.path("mess", linked):   "symbolic link",
		q.path("mess", hard):     "2 hard links",
		q.path("todo", fifo):     "FIFO",
		q.path("info", infoLink): "symbolic link",
	}
	for path, why := range wantDamaged {
		i := slices.IndexFunc(s.Damaged, func(d QueueProblem) bool { return d.Path == path })
		if i < 0 || !strings.Contains(s.Damaged[i].Reason, why) {
			t.Errorf("%s not reported damaged for %q: %v", path, why, s.Damaged)
		}
	}
	if len(s.Messages) != 1 || s.Messages[0].ID != good {
		t.Fatalf("messages to import %+v, want only %d", s.Messages, good)
	}

	// Through the queue writer's protocol, as root's import does.
	db, err := store.Open(filepath.Join(t.TempDir(), "queue.db"), store.Options{Route: func(a string) route.Route {
		return route.Route{Deliver: a, Channel: route.Remote}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	parent, theirs, err := frame.Pair()
	if err != nil {
		t.Fatal(err)
	}
	child, err := frame.FileConn(theirs)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		child.Write(nil, []byte("ready"))
		served <- ServeQueueWriter(child, StoreQueuer{db}, 4)
		child.Close()
	}()
	client, err := NewQueueWriterClient(parent)
	if err != nil {
		t.Fatal(err)
	}
	// The mess file swapped for a link after the scan: refused too.
	s.Messages = append(s.Messages, QueueMessage{ID: linked, Mess: q.path("mess", linked), Size: 15, UID: 1, Sender: "joe@mail.test",
		Recipients: []string{"attacker@evil.example"}, Arrived: time.Now(), Key: "qmail:46:0:15"})
	res, err := ImportQueueTo(context.Background(), client, s, ImportOptions{})
	client.Close()
	if serr := <-served; serr != nil {
		t.Errorf("writer: %v", serr)
	}
	if err != nil || res.Queued != 1 || len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Reason, "symbolic link") {
		t.Fatalf("import = %+v, %v", res, err)
	}
	envs, _ := db.List(0, 10)
	if len(envs) != 1 || envs[0].Sender != "a@x.test" {
		t.Fatalf("queued %+v", envs)
	}
	for _, env := range envs {
		st, _ := db.Recipients(env.ID)
		for _, r := range st {
			if strings.Contains(r.Deliver, "evil") {
				t.Errorf("queued to %s", r.Deliver)
			}
		}
	}
}

// The envelope crosses to the queue writer whole.
func TestQueueWriterFrameRoundTrip(t *testing.T) {
	for _, m := range []QueueMessage{
		{ID: 4242, Key: "qmail:4242:1:2", Sender: "", UID: -1, Arrived: time.Unix(0, 1700000000123456789), Size: 99, Done: 3,
			Recipients: []string{"a@b", "joe-info@v.test"}, Routes: []route.Route{{Deliver: "a@b", Channel: route.Remote}, {Deliver: "joe-info@v.test", Channel: route.Local}}},
		{ID: 7, Key: "k", Sender: "s@x", UID: 1000, Arrived: time.Unix(5, 0), Size: 1, Recipients: []string{"r@y"}},
	} {
		seq, got, err := decodeMessage(encodeMessage(9, &m))
		if err != nil || seq != 9 {
			t.Fatalf("decode: %v", err)
		}
		if got.ID != m.ID || got.Key != m.Key || got.Sender != m.Sender || got.UID != m.UID || !got.Arrived.Equal(m.Arrived) ||
			got.Size != m.Size || got.Done != m.Done || !slices.Equal(got.Recipients, m.Recipients) || !slices.Equal(got.Routes, m.Routes) ||
			got.Preprocessed() != m.Preprocessed() {
			t.Errorf("got %+v, want %+v", got, m)
		}
	}
	f := encodeMessage(1, &QueueMessage{Recipients: []string{"a"}, Routes: []route.Route{{Deliver: "a", Channel: 9}}})
	if _, _, err := decodeMessage(f); err == nil {
		t.Error("a route with an unknown channel is taken")
	}
	if _, _, err := decodeMessage(f[:len(f)-1]); err == nil {
		t.Error("a frame cut short is taken")
	}
}
