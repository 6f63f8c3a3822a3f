package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/outcome"
)

func bodyFiles(t *testing.T, db *DB) []string {
	t.Helper()
	entries, err := os.ReadDir(db.bodies)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// spooled writes body into a new spool in small pieces, as a network
// reader would.
func spooled(db *DB, body []byte) *Spool {
	s := db.NewSpool()
	for len(body) > 0 {
		n := min(len(body), 1000)
		s.Write(body[:n])
		body = body[n:]
	}
	return s
}

// A body up to InlineMax stays in the database; a larger one becomes a
// file, which OpenBody reads and which leaves with its message.
func TestSpoolKeepsSmallBodiesInlineAndLargeOnesInFiles(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	small := bytes.Repeat([]byte("s"), InlineMax)
	large := bytes.Repeat([]byte("0123456789abcde\n"), InlineMax/16+1000)

	m := msg("a@b", "", "u@localhost")
	m.Body, m.Spool = nil, spooled(db, small)
	idSmall, err := db.Accept(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if files := bodyFiles(t, db); len(files) != 0 {
		t.Fatalf("a body of InlineMax bytes made files %v", files)
	}
	m = msg("a@b", "", "u@localhost")
	m.Body, m.Spool = nil, spooled(db, large)
	idLarge, err := db.Accept(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	files := bodyFiles(t, db)
	if len(files) != 1 {
		t.Fatalf("body files after a large message: %v", files)
	}
	for id, want := range map[MsgID][]byte{idSmall: small, idLarge: large} {
		b, err := db.OpenBody(id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(b.Reader())
		_, inline := b.Inline()
		b.Close()
		if !bytes.Equal(got, want) || b.Size() != int64(len(want)) || inline != (id == idSmall) {
			t.Fatalf("message %d: read %d bytes (size %d, inline %v), want %d", id, len(got), b.Size(), inline, len(want))
		}
	}
	env, _ := db.Envelope(idLarge)
	if env.Size != int64(len(large)) || env.BodyFile != files[0] {
		t.Fatalf("envelope %+v, file %s", env, files[0])
	}

	var head []byte
	finish := func(_ *Envelope, _ []RecipientState, h []byte) ([]*NewMessage, error) {
		head = h
		return nil, nil
	}
	if _, err := db.Record(ctx, Result{Ref: Ref{idLarge, 0}, Outcome: outcome.Failed, Text: "no"}, finish); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, large[:InlineMax]) {
		t.Fatalf("the finisher saw %d bytes, want the first %d", len(head), InlineMax)
	}
	if files := bodyFiles(t, db); len(files) != 0 {
		t.Fatalf("the finished message left its body file: %v", files)
	}
}

// With no room in the in-memory budget a small body goes to a file, so
// the memory all spools hold together stays under the budget.
func TestSpoolsShareTheInMemoryBudget(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{InlineBudget: 10000, Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := spooled(db, bytes.Repeat([]byte("a"), 8000))
	b := spooled(db, bytes.Repeat([]byte("b"), 8000))
	if _, inline := a.inline(); !inline {
		t.Fatal("the first spool went to a file with room in the budget")
	}
	if _, inline := b.inline(); inline {
		t.Fatal("the second spool stayed in memory beyond the budget")
	}
	if used := db.budget.used.Load(); used != 8000 {
		t.Fatalf("budget holds %d bytes, want 8000", used)
	}
	a.Discard()
	b.Discard()
	if used := db.budget.used.Load(); used != 0 {
		t.Fatalf("budget holds %d bytes after both were discarded", used)
	}
	if files := bodyFiles(t, db); len(files) != 0 {
		t.Fatalf("a discarded spool left %v", files)
	}
}

// A forward of a large message carries its own copy in a spool, queued
// with the result that produced it.
func TestRecordQueuesASpooledForward(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	large := bytes.Repeat([]byte("x"), 3*InlineMax)
	m := msg("a@b", "", "u@localhost")
	m.Body, m.Spool = nil, spooled(db, large)
	id, err := db.Accept(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	fwd := msg("a@b", "", "w@localhost")
	fwd.Body, fwd.Spool = nil, spooled(db, append([]byte("Delivered-To: u@localhost\n"), large...))
	rec, err := db.Record(ctx, Result{Ref: Ref{id, 0}, Outcome: outcome.Delivered, Enqueue: []*NewMessage{fwd}}, nil)
	if err != nil || len(rec.Queued) != 1 {
		t.Fatalf("Record = %+v, %v", rec, err)
	}
	got, err := db.Body(rec.Queued[0])
	if err != nil || !strings.HasPrefix(string(got), "Delivered-To: u@localhost\nxxx") || len(got) != len(large)+26 {
		t.Fatalf("forward body: %d bytes, %v", len(got), err)
	}
	if files := bodyFiles(t, db); len(files) != 1 {
		t.Fatalf("body files: %v, want the forward's only", files)
	}
}

// A failed accept leaves no file behind, and a file no message names (a
// crash between writing it and committing) is removed at start.
func TestOrphanBodiesAreRemoved(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	m := msg("a@b", "", "u@localhost")
	m.Body, m.Spool = nil, spooled(db, bytes.Repeat([]byte("x"), 2*InlineMax))
	if _, err := db.Accept(ctx, m); err != nil {
		t.Fatal(err)
	}
	bad := &NewMessage{Spool: spooled(db, bytes.Repeat([]byte("y"), 2*InlineMax))}
	if _, err := db.Accept(ctx, bad); err == nil {
		t.Fatal("accepted a message without recipients")
	}
	if files := bodyFiles(t, db); len(files) != 1 {
		t.Fatalf("after a refused accept: %v", files)
	}
	orphan := spooled(db, bytes.Repeat([]byte("z"), 2*InlineMax))
	orphan.w.Flush()
	n, err := db.RemoveOrphanBodies()
	if err != nil || n != 1 {
		t.Fatalf("RemoveOrphanBodies = %d, %v", n, err)
	}
	if files := bodyFiles(t, db); len(files) != 1 {
		t.Fatalf("after removing orphans: %v", files)
	}
}

// A version 1 database opens and is marked version 2.
func TestOpenUpgradesSchemaOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := db.Accept(context.Background(), msg("a@b", "old\n", "u@localhost"))
	db.Close()
	writeRaw(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, 1))
	})
	db, err = Open(path, Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if b, err := db.Body(id); err != nil || string(b) != "old\n" {
		t.Fatalf("body after upgrade: %q, %v", b, err)
	}
	db.view(func(tx *bolt.Tx) error {
		if v, _ := checkVersion(tx.Bucket(bucketMeta), path); v != SchemaVersion {
			t.Errorf("schema after open: %d", v)
		}
		return nil
	})
}

func TestSpoolReaderGivesBackWhatWasWritten(t *testing.T) {
	db := openTest(t)
	for _, size := range []int{0, 100, InlineMax + 1, 3 * InlineMax} {
		sp := db.NewSpool()
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		sp.Write(want)
		r, err := sp.Reader()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("size %d: read back %d bytes, %v", size, len(got), err)
		}
		sp.Discard()
	}
}
