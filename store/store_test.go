package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/route"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{Owner: "store test", Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func msg(sender string, body string, rcpts ...string) *NewMessage {
	m := &NewMessage{Sender: sender, Body: []byte(body), Origin: Origin{Kind: "smtp", RemoteIP: "127.0.0.1", UID: -1}}
	m.Recipients = rcpts
	return m
}

func TestAcceptedMessageIsDueWithItsBody(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, err := db.Accept(ctx, msg("a@b", "Subject: x\n\nhello\n", "u@localhost", "v@remote.example"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.Accepted():
	default:
		t.Error("Accept did not signal Accepted()")
	}
	jobs, err := db.Due(Local, time.Now(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Recipient.Address != "u@localhost" || jobs[0].Recipient.Deliver != "u@localhost" || jobs[0].Sender != "a@b" {
		t.Fatalf("local due jobs = %+v", jobs)
	}
	remote, _ := db.Due(Remote, time.Now(), 10, nil)
	if len(remote) != 1 || remote[0].Ref != (Ref{id, 1}) {
		t.Fatalf("remote due jobs = %+v", remote)
	}
	body, err := db.Body(id)
	if err != nil || string(body) != "Subject: x\n\nhello\n" {
		t.Fatalf("Body = %q, %v", body, err)
	}
	if jobs, _ := db.Due(Local, time.Now().Add(-time.Hour), 10, nil); len(jobs) != 0 {
		t.Fatalf("a recipient accepted now is due an hour ago: %+v", jobs)
	}
}

func TestDeferralMovesTheRecipientInTheDueIndex(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, _ := db.Accept(ctx, msg("a@b", "x\n", "u@localhost"))
	next := time.Now().Add(100 * time.Second)
	rec, err := db.Record(ctx, Result{Ref: Ref{id, 0}, Outcome: outcome.Deferred, Text: "Unable to chdir to maildir. (#4.2.1)", Next: next}, nil)
	if err != nil || rec.Finished {
		t.Fatalf("Record = %+v, %v", rec, err)
	}
	if jobs, _ := db.Due(Local, time.Now(), 10, nil); len(jobs) != 0 {
		t.Fatalf("deferred recipient still due now: %+v", jobs)
	}
	jobs, _ := db.Due(Local, next, 10, nil)
	if len(jobs) != 1 || jobs[0].Attempts != 1 {
		t.Fatalf("deferred recipient not due at its next time: %+v", jobs)
	}
	at, ok, err := db.NextDue(Local, nil)
	if err != nil || !ok || !at.Equal(next) {
		t.Fatalf("NextDue = %v, %v, %v; want %v", at, ok, err, next)
	}
	rs, _ := db.Recipients(id)
	if rs[0].LastText != "Unable to chdir to maildir. (#4.2.1)" || rs[0].State != Pending {
		t.Fatalf("recipient state = %+v", rs[0])
	}
}

func TestLastRecipientFinishesTheMessageAndQueuesItsBounce(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, _ := db.Accept(ctx, msg("a@b", "body\n", "u@localhost", "v@localhost"))
	var seen []RecipientState
	finish := func(env *Envelope, all []RecipientState, body []byte) ([]*NewMessage, error) {
		seen = all
		if string(body) != "body\n" {
			return nil, fmt.Errorf("finisher saw body %q", body)
		}
		return []*NewMessage{msg("", "bounce\n", env.Sender+"x")}, nil
	}
	rec, err := db.Record(ctx, Result{Ref: Ref{id, 0}, Outcome: outcome.Delivered, Text: "did 1+0+0"}, finish)
	if err != nil || rec.Finished || len(rec.Queued) != 0 {
		t.Fatalf("first Record = %+v, %v", rec, err)
	}
	rec, err = db.Record(ctx, Result{Ref: Ref{id, 1}, Outcome: outcome.Failed, Text: "Sorry, no mailbox here by that name. (#5.1.1)"}, finish)
	if err != nil || !rec.Finished || len(rec.Queued) != 1 {
		t.Fatalf("last Record = %+v, %v", rec, err)
	}
	if len(seen) != 2 || seen[0].State != Delivered || seen[1].State != Failed {
		t.Fatalf("finisher saw %+v", seen)
	}
	if _, err := db.Body(id); err == nil {
		t.Fatal("finished message still has a body")
	}
	msgs, pending, _ := db.Count()
	if msgs != 1 || pending != 1 {
		t.Fatalf("after finishing: %d messages, %d pending; want only the bounce", msgs, pending)
	}
	if _, err := db.Record(ctx, Result{Ref: Ref{id, 1}, Outcome: outcome.Delivered}, nil); err == nil {
		t.Fatal("recording a finished recipient again succeeded")
	}
}

func TestForwardIsQueuedWithTheResult(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, _ := db.Accept(ctx, msg("a@b", "x\n", "u@localhost"))
	fwd := msg("a@b", "Delivered-To: u@localhost\nx\n", "w@localhost")
	rec, err := db.Record(ctx, Result{Ref: Ref{id, 0}, Outcome: outcome.Delivered, Enqueue: []*NewMessage{fwd}}, nil)
	if err != nil || !rec.Finished || len(rec.Queued) != 1 {
		t.Fatalf("Record = %+v, %v", rec, err)
	}
	jobs, _ := db.Due(Local, time.Now(), 10, nil)
	if len(jobs) != 1 || jobs[0].Msg != rec.Queued[0] || jobs[0].Recipient.Address != "w@localhost" {
		t.Fatalf("forward not due: %+v", jobs)
	}
}

func TestFailingFinisherRollsBackTheResult(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, _ := db.Accept(ctx, msg("a@b", "x\n", "u@localhost"))
	boom := func(*Envelope, []RecipientState, []byte) ([]*NewMessage, error) {
		return nil, fmt.Errorf("boom")
	}
	if _, err := db.Record(ctx, Result{Ref: Ref{id, 0}, Outcome: outcome.Failed}, boom); err == nil {
		t.Fatal("Record with a failing finisher succeeded")
	}
	rs, err := db.Recipients(id)
	if err != nil || len(rs) != 1 || rs[0].State != Pending || rs[0].Attempts != 0 {
		t.Fatalf("recipient after rolled back Record = %+v, %v", rs, err)
	}
}

func TestSkipLeavesOutRecipientsInFlight(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	a, _ := db.Accept(ctx, msg("", "x\n", "u@localhost"))
	b, _ := db.Accept(ctx, msg("", "x\n", "u@localhost"))
	skip := func(r Ref) bool { return r.Msg == a }
	jobs, _ := db.Due(Local, time.Now(), 10, skip)
	if len(jobs) != 1 || jobs[0].Msg != b {
		t.Fatalf("Due with skip = %+v", jobs)
	}
	if _, ok, _ := db.NextDue(Local, func(Ref) bool { return true }); ok {
		t.Fatal("NextDue found a recipient although all are skipped")
	}
}

func TestMakeAllDueBringsDeferredRecipientsForward(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var ids []MsgID
	for range 3 {
		id, _ := db.Accept(ctx, msg("", "x\n", "u@localhost", "v@far.example"))
		ids = append(ids, id)
	}
	later := time.Now().Add(time.Hour)
	for _, id := range ids {
		for i := range uint32(2) {
			if _, err := db.Record(ctx, Result{Ref: Ref{id, i}, Outcome: outcome.Deferred, Next: later}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := time.Now()
	n, err := db.MakeAllDue(ctx, now)
	if err != nil || n != 6 {
		t.Fatalf("MakeAllDue = %d, %v; want 6", n, err)
	}
	for _, ch := range []route.Channel{Local, Remote} {
		jobs, _ := db.Due(ch, now, 10, nil)
		if len(jobs) != 3 {
			t.Fatalf("%v due after MakeAllDue: %d, want 3", ch, len(jobs))
		}
	}
}

func TestLargeBodyRoundTripsInChunks(t *testing.T) {
	db := openTest(t)
	body := bytes.Repeat([]byte("0123456789abcdef\n"), 3*chunkSize/17+5)
	id, err := db.Accept(context.Background(), &NewMessage{Body: body, Recipients: []string{"u@l"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Body(id)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("body of %d bytes came back as %d bytes, %v", len(body), len(got), err)
	}
}

func TestConcurrentAcceptsShareCommits(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	st := db.bolt.Stats()
	before := st.TxStats.GetWrite()
	const n = 400
	var wg sync.WaitGroup
	ids := make(chan MsgID, n)
	for range 40 {
		wg.Go(func() {
			for range n / 40 {
				id, err := db.Accept(ctx, msg("a@b", "x\n", "u@localhost"))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[MsgID]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("message ID %d handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d messages accepted, want %d", len(seen), n)
	}
	st = db.bolt.Stats()
	writes := st.TxStats.GetWrite() - before
	t.Logf("%d accepts in %d write transactions", n, writes)
	if writes >= n {
		t.Fatalf("%d accepts took %d transactions: no group commit", n, writes)
	}
}

func TestAcceptRefusesMessagesWithoutRecipients(t *testing.T) {
	db := openTest(t)
	if _, err := db.Accept(context.Background(), &NewMessage{Body: []byte("x")}); err == nil {
		t.Fatal("accepted a message without recipients")
	}
}

func TestCallsAfterCloseFail(t *testing.T) {
	db := openTest(t)
	db.Close()
	if _, err := db.Accept(context.Background(), msg("", "x", "u@l")); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
	if _, err := db.Due(Local, time.Now(), 1, nil); err == nil {
		t.Fatal("Due after Close succeeded")
	}
}

func TestMessagesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := db.Accept(context.Background(), msg("a@b", "kept\n", "u@localhost"))
	db.Close()
	db, err = Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	body, err := db.Body(id)
	if err != nil || string(body) != "kept\n" {
		t.Fatalf("after reopen Body = %q, %v", body, err)
	}
	env, err := db.Envelope(id)
	if err != nil || env.Sender != "a@b" || env.Origin.RemoteIP != "127.0.0.1" || env.Open != 1 {
		t.Fatalf("after reopen Envelope = %+v, %v", env, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	writeRaw(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	_, err = Open(path, Options{Route: testRoute})
	if err == nil || !strings.Contains(err.Error(), "newer than this gqmail understands") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of newer schema: %v", err)
	}
}

func TestOpenRefusesForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	writeRaw(t, path, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("somebody-else"))
		return err
	})
	if _, err := Open(path, Options{Route: testRoute}); err == nil || !strings.Contains(err.Error(), "not a gqmail queue") {
		t.Fatalf("Open of foreign database: %v", err)
	}
}

func TestSecondOpenNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := Open(path, Options{Owner: "qmaild --root /x", Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// bbolt's flock is per open file description, so a second Open in the
	// same process contends like another process would.
	_, err = Open(path, Options{LockTimeout: 50 * time.Millisecond, Route: testRoute})
	if err == nil || !strings.Contains(err.Error(), "qmaild --root /x") {
		t.Fatalf("second Open: %v", err)
	}
}

func writeRaw(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// The queue routes each recipient once and queues a mailbox once: a
// local address in any case, a remote one with its domain in any case.
func TestAcceptQueuesEachMailboxOnce(t *testing.T) {
	db := openTest(t)
	id, err := db.Accept(context.Background(), msg("a@b", "x\n", "bob@localhost", "Bob@localhost", "BOB@LOCALHOST",
		"x@far.example", "x@FAR.example", "X@far.example"))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := db.Recipients(id)
	var got []string
	for _, r := range rs {
		got = append(got, r.Address+"/"+r.Channel.String())
	}
	if strings.Join(got, " ") != "bob@localhost/local x@far.example/remote X@far.example/remote" {
		t.Fatalf("queued %q", got)
	}
	env, _ := db.Envelope(id)
	if env.Recipients != 3 || env.Open != 3 {
		t.Fatalf("envelope counts %d recipients, %d open", env.Recipients, env.Open)
	}
}
