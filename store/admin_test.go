package store

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/route"
)

func dueRefs(t *testing.T, db *DB) map[Ref]bool {
	t.Helper()
	out := map[Ref]bool{}
	for _, ch := range []route.Channel{Local, Remote} {
		jobs, err := db.Due(ch, time.Now().Add(24*time.Hour), 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			out[j.Ref] = true
		}
	}
	return out
}

func TestHeldRecipientLeavesTheDueIndexUntilReleased(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, err := db.Accept(ctx, msg("a@b", "x\n", "u@localhost", "v@far.example"))
	if err != nil {
		t.Fatal(err)
	}
	held := Ref{id, 1}
	if n, err := db.Hold(ctx, []Ref{held, held}); err != nil || n != (Changed{1, 1}) {
		t.Fatalf("Hold = %d, %v", n, err)
	}
	if n, _ := db.Hold(ctx, []Ref{held}); n.Recipients != 0 {
		t.Errorf("holding a held recipient again changed %d", n)
	}
	if due := dueRefs(t, db); due[held] || !due[Ref{id, 0}] {
		t.Fatalf("due after hold: %v", due)
	}
	if n, _ := db.MakeDue(ctx, []Ref{held}, time.Now()); n.Recipients != 0 {
		t.Errorf("retry made a held recipient due")
	}
	db.MakeAllDue(ctx, time.Now().Add(-time.Hour))
	if due := dueRefs(t, db); due[held] {
		t.Fatal("SIGALRM made a held recipient due")
	}
	e, err := db.Entry(id)
	if err != nil || !e.Recipients[1].Held || e.Recipients[0].Held {
		t.Fatalf("Entry = %+v, %v", e, err)
	}
	// A delivery that was under way when the hold came is recorded, and
	// a deferral leaves the recipient held.
	if _, err := db.Record(ctx, Result{Ref: held, Outcome: outcome.Deferred, Text: "later", Next: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	if due := dueRefs(t, db); due[held] {
		t.Fatal("a deferral made a held recipient due")
	}
	now := time.Now()
	if n, err := db.Release(ctx, []Ref{{id, 0}, held}, now); err != nil || n != (Changed{1, 1}) {
		t.Fatalf("Release = %d, %v", n, err)
	}
	if due := dueRefs(t, db); !due[held] {
		t.Fatal("a released recipient is not due")
	}
	e, _ = db.Entry(id)
	if r := e.Recipients[1]; r.Held || r.Attempts != 1 || r.LastText != "later" || !r.Next.Equal(now) {
		t.Fatalf("released recipient: %+v", r)
	}
}

func TestHeldFlagSurvivesReopenAndOldRecordsStillRead(t *testing.T) {
	r := &RecipientState{Ref: Ref{1, 0}, State: Pending, LastText: "x"}
	r.Address, r.Deliver = "a@b", "a@b"
	plain := encodeRecipient(r)
	if plain[0] != rcptFormat1 {
		t.Fatalf("a recipient not held is written in format %d, want 1", plain[0])
	}
	r.Held = true
	b := encodeRecipient(r)
	got, err := decodeRecipient(r.Ref, b)
	if err != nil || !got.Held || got.LastText != "x" || got.Address != "a@b" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	got, err = decodeRecipient(r.Ref, plain)
	if err != nil || got.Held {
		t.Fatalf("format 1: %+v, %v", got, err)
	}
}

func TestVersion2DatabaseIsMarked3AndReadOnlyOpenWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	db.Accept(context.Background(), msg("a@b", "x\n", "u@localhost"))
	db.Close()
	setVersion := func(v uint32) {
		writeRaw(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, v))
		})
	}
	version := func() uint32 {
		b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var v uint32
		b.View(func(tx *bolt.Tx) error { v = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(keySchema)); return nil })
		return v
	}
	setVersion(2)
	ro, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if envs, _, err := ro.Entries(0, ^MsgID(0), 10, 100); err != nil || len(envs) != 1 {
		t.Fatalf("read-only Entries = %v, %v", envs, err)
	}
	if _, err := ro.Hold(context.Background(), []Ref{{1, 0}}); err == nil {
		t.Error("a read-only queue took a write")
	}
	ro.Close()
	if v := version(); v != 2 {
		t.Fatalf("read-only open changed the schema to %d", v)
	}
	db, err = Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v := version(); v != SchemaVersion || SchemaVersion != 3 {
		t.Fatalf("schema after a writing open: %d", v)
	}
	setVersion(SchemaVersion + 1)
	if _, err := OpenReadOnly(path, time.Second); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("read-only open of a newer schema: %v", err)
	}
}

func TestReadOnlyOpenSeesTheDaemonHoldingTheFile(t *testing.T) {
	db := openTest(t)
	start := time.Now()
	_, err := OpenReadOnly(db.Path(), 200*time.Millisecond)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "store test") {
		t.Fatalf("OpenReadOnly while held: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the lock wait took %v", time.Since(start))
	}
}

func TestFailNowBouncesInTheSameTransactionAndRemoveDoesNot(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	a, _ := db.Accept(ctx, msg("s@b", "a\n", "u@localhost", "v@far.example"))
	b, _ := db.Accept(ctx, msg("s@b", "b\n", "w@far.example"))
	if _, err := db.Record(ctx, Result{Ref: Ref{a, 0}, Outcome: outcome.Deferred, Text: "busy", Next: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	db.Hold(ctx, []Ref{{a, 1}})
	var seen []RecipientState
	finish := func(env *Envelope, all []RecipientState, head []byte) ([]*NewMessage, error) {
		seen = all
		return []*NewMessage{msg("", "bounce of "+string(head), env.Sender)}, nil
	}
	res, err := db.FailNow(ctx, []Ref{{a, 0}, {a, 1}}, func(r RecipientState) string { return "removed; was: " + r.LastText }, finish)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recipients != 2 || res.Messages != 1 || len(res.Ended) != 1 || res.Ended[0].Msg != a || res.Ended[0].Bounce == 0 {
		t.Fatalf("FailNow = %+v", res)
	}
	if len(seen) != 2 || seen[0].State != Failed || seen[0].LastText != "removed; was: busy" || seen[1].Held {
		t.Fatalf("finisher saw %+v", seen)
	}
	if _, err := db.Entry(a); err == nil {
		t.Error("the failed message is still queued")
	}
	body, err := db.Body(res.Ended[0].Bounce)
	if err != nil || string(body) != "bounce of a\n" {
		t.Fatalf("bounce body %q, %v", body, err)
	}
	// The delivery that was under way finds its recipient gone.
	if _, err := db.Record(ctx, Result{Ref: Ref{a, 0}, Outcome: outcome.Delivered}, nil); !errors.Is(err, ErrGone) {
		t.Errorf("Record after FailNow: %v", err)
	}

	rm, err := db.Remove(ctx, []MsgID{b, b, 999})
	if err != nil || len(rm.Messages) != 1 || rm.Recipients != 1 {
		t.Fatalf("Remove = %+v, %v", rm, err)
	}
	if _, err := db.Record(ctx, Result{Ref: Ref{b, 0}, Outcome: outcome.Deferred, Next: time.Now()}, nil); !errors.Is(err, ErrGone) {
		t.Errorf("Record after Remove: %v", err)
	}
	if due := dueRefs(t, db); len(due) != 1 {
		t.Errorf("due after remove: %v (only the bounce should be)", due)
	}
}

func TestEntriesPagesStopAtUpToAndAtTheRecipientBound(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		db.Accept(ctx, msg("s@b", "x\n", "a@localhost", "b@localhost"))
	}
	last, _ := db.LastID()
	if last != 5 {
		t.Fatalf("LastID = %d", last)
	}
	page, more, err := db.Entries(0, last, 10, 3)
	if err != nil || len(page) != 2 || !more || len(page[1].Recipients) != 2 {
		t.Fatalf("page 1 = %d entries, more %v, %v", len(page), more, err)
	}
	page, more, _ = db.Entries(2, 4, 10, 100)
	if len(page) != 2 || more || page[0].ID != 3 {
		t.Fatalf("page up to 4 = %+v, more %v", page, more)
	}
}

// A queue.db that is a FIFO or a link is refused at once, not waited on
// or followed.
func TestOpenReadOnlyRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := OpenReadOnly(fifo, time.Second); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenReadOnly waited on a FIFO")
	}
	link := filepath.Join(dir, "link.db")
	os.Symlink(fifo, link)
	if _, err := OpenReadOnly(link, time.Second); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a link: %v", err)
	}
}
