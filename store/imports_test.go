package store

import (
	"context"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/route"
)

func TestImportKeyQueuesAMessageOnce(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, ok, err := db.Imported("qmail:1:2:3"); ok || err != nil {
		t.Fatalf("Imported before any import = %v, %v", ok, err)
	}
	first := msg("a@b", "one\n", "u@localhost")
	first.ImportKey = "qmail:1:2:3"
	id, err := db.Accept(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	again := msg("a@b", "one\n", "u@localhost")
	again.ImportKey = "qmail:1:2:3"
	sp := spooled(db, make([]byte, InlineMax+1))
	again.Body, again.Spool = nil, sp
	id2, err := db.Accept(ctx, again)
	if err != nil || id2 != id {
		t.Fatalf("second Accept of the same key = %d, %v; want the first id %d", id2, err, id)
	}
	if n, _, _ := db.Count(); n != 1 {
		t.Fatalf("%d messages queued; the key should have kept it at 1", n)
	}
	if files := bodyFiles(t, db); len(files) != 0 {
		t.Errorf("the skipped message's spool file was kept: %v", files)
	}
	if got, ok, err := db.Imported("qmail:1:2:3"); !ok || got != id || err != nil {
		t.Fatalf("Imported = %d, %v, %v; want %d", got, ok, err, id)
	}
	other := msg("a@b", "two\n", "u@localhost")
	other.ImportKey = "qmail:4:5:6"
	if id3, err := db.Accept(ctx, other); err != nil || id3 == id {
		t.Fatalf("another key = %d, %v", id3, err)
	}
}

func TestImportKeyOutlivesTheMessage(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	m := msg("a@b", "one\n", "u@localhost")
	m.ImportKey = "k"
	id, err := db.Accept(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := db.Due(Local, time.Now(), 10, nil)
	if len(jobs) != 1 {
		t.Fatalf("due = %+v", jobs)
	}
	if _, err := db.Record(ctx, Result{Ref: jobs[0].Ref, Outcome: outcome.Delivered, Text: "did 1+0+0"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Envelope(id); err == nil {
		t.Fatal("the delivered message is still queued")
	}
	m = msg("a@b", "one\n", "u@localhost")
	m.ImportKey = "k"
	if _, err := db.Accept(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := db.Count(); n != 0 {
		t.Fatalf("a delivered import was queued again (%d messages)", n)
	}
}

func TestImportKeepsArrivalTimeAndRoutes(t *testing.T) {
	db := openTest(t)
	birth := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	m := msg("a@b", "x\n", "joe-info@virtual.test", "v@remote.test")
	m.Received = birth
	m.Routes = []route.Route{
		{Deliver: "joe-info@virtual.test", Channel: route.Local},
		{Deliver: "v@remote.test", Channel: route.Remote},
	}
	id, err := db.Accept(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	env, err := db.Envelope(id)
	if err != nil || !env.Received.Equal(birth) {
		t.Fatalf("Received = %v, %v; want %v", env.Received, err, birth)
	}
	local, _ := db.Due(Local, time.Now(), 10, nil)
	remote, _ := db.Due(Remote, time.Now(), 10, nil)
	if len(local) != 1 || local[0].Recipient.Deliver != "joe-info@virtual.test" {
		t.Errorf("local = %+v; want the route as given, not testRoute's", local)
	}
	if len(remote) != 1 || remote[0].Recipient.Deliver != "v@remote.test" || !remote[0].Received.Equal(birth) {
		t.Errorf("remote = %+v", remote)
	}
	bad := msg("a@b", "x\n", "u@localhost", "w@localhost")
	bad.Routes = []route.Route{{Deliver: "u@localhost", Channel: route.Local}}
	if _, err := db.Accept(context.Background(), bad); err == nil {
		t.Error("routes of the wrong length were accepted")
	}
}
