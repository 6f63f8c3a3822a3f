package admin

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

func testRoute(addr string) route.Route {
	if strings.HasSuffix(addr, ".example") {
		return route.Route{Deliver: addr, Channel: route.Remote}
	}
	return route.Route{Deliver: addr, Channel: route.Local}
}

// fakeBouncer fails recipients with a fixed text and no bounce.
type fakeBouncer struct{ db *store.DB }

func (f fakeBouncer) Bounce(ctx context.Context, refs []store.Ref) (store.FailedNow, error) {
	return f.db.FailNow(ctx, refs, func(store.RecipientState) string { return "removed" }, nil)
}

// serve starts a server on a queue in a new directory and returns a
// connected client.
func serve(t *testing.T, allowed []int) (*store.DB, string, *Server) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "queue.db"), store.Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	path := SocketPath(dir)
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v", fi.Mode(), err)
	}
	var logs bytes.Buffer
	s := &Server{Queue: db, Changer: db, Bouncer: fakeBouncer{db}, Log: qlog.New(&logs, "plain"), AllowedUIDs: allowed}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		l.Close()
		s.CloseConns()
		<-done
		db.Close()
	})
	return db, path, s
}

func accept(t *testing.T, db *store.DB, sender string, rcpts ...string) store.MsgID {
	t.Helper()
	id, err := db.Accept(context.Background(), &store.NewMessage{Sender: sender, Recipients: rcpts,
		Origin: store.Origin{Kind: "smtp", RemoteIP: "192.0.2.1", HELO: "h", UID: -1},
		Body:   []byte("Subject: test\nX-A: b\n\nthe body\n")})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func list(t *testing.T, c *Client, f Filter) []Message {
	t.Helper()
	var out []Message
	if err := c.List(f, func(m *Message) error { out = append(out, *m); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestListStatShowAndChangesThroughTheSocket(t *testing.T) {
	db, path, _ := serve(t, []int{os.Getuid()})
	a := accept(t, db, "s@a.org", "u@localhost", "v@far.example")
	b := accept(t, db, "", "w@far.example")
	ctx := context.Background()
	db.Record(ctx, store.Result{Ref: store.Ref{Msg: a, Index: 0}, Outcome: outcome.Delivered, Text: "did 1+0+0"}, nil)
	db.Record(ctx, store.Result{Ref: store.Ref{Msg: b, Index: 0}, Outcome: outcome.Deferred, Text: "busy", Next: time.Now().Add(time.Hour)}, nil)

	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all := list(t, c, Filter{})
	if len(all) != 2 || all[0].ID != uint64(a) || all[0].Sender != "s@a.org" || all[0].Origin.RemoteIP != "192.0.2.1" || all[0].Size != 31 {
		t.Fatalf("list = %+v", all)
	}
	r := all[0].Recipients
	if len(r) != 2 || r[0].State != StateDelivered || r[1].State != StatePending || r[1].Channel != "remote" || r[1].NextAttempt == 0 {
		t.Fatalf("recipients of %d = %+v", a, r)
	}
	if r := all[1].Recipients[0]; r.State != StateDeferred || r.Attempts != 1 || r.LastResult != "busy" {
		t.Fatalf("deferred recipient = %+v", r)
	}
	if got := list(t, c, Filter{Sender: "<>"}); len(got) != 1 || got[0].ID != uint64(b) {
		t.Errorf("--sender <> = %+v", got)
	}
	if got := list(t, c, Filter{State: StateDeferred}); len(got) != 1 || got[0].ID != uint64(b) {
		t.Errorf("--state deferred = %+v", got)
	}
	if got := list(t, c, Filter{IDs: []uint64{}}); len(got) != 0 {
		t.Errorf("an empty id list (list - with nothing on stdin) selected %d messages", len(got))
	}
	if got := list(t, c, Filter{Domain: "FAR.example", IDs: []uint64{uint64(a)}}); len(got) != 1 {
		t.Errorf("--domain with an id = %+v", got)
	}
	if got := list(t, c, Filter{OlderThan: 3600}); len(got) != 0 {
		t.Errorf("--older-than 1h = %+v", got)
	}

	st, err := c.Stat(Filter{})
	if err != nil || st.Messages != 2 || st.Recipients[StateDelivered] != 1 || st.Recipients[StateDeferred] != 1 ||
		st.Recipients[StatePending] != 1 || st.Channels["remote"] != 2 || st.Bytes != 62 {
		t.Fatalf("stat = %+v, %v", st, err)
	}

	var head bytes.Buffer
	var shown *Message
	if err := c.Show(uint64(a), false, func(m *Message) error { shown = m; return nil }, &head); err != nil {
		t.Fatal(err)
	}
	if shown == nil || shown.ID != uint64(a) || head.String() != "Subject: test\nX-A: b\n" {
		t.Fatalf("show = %+v, header %q", shown, head.String())
	}
	var whole bytes.Buffer
	if err := c.Show(uint64(a), true, func(*Message) error { return nil }, &whole); err != nil || !strings.HasSuffix(whole.String(), "the body\n") {
		t.Fatalf("show --body = %q, %v", whole.String(), err)
	}
	if err := c.Show(999, false, func(*Message) error { return nil }, io.Discard); err == nil || !strings.Contains(err.Error(), "not in the queue") {
		t.Fatalf("show of no message: %v", err)
	}

	// Changes: each does what it names and no more.
	if n, err := c.Change(VerbHold, Filter{All: true}, true); err != nil || n != (Counts{2, 2, true}) {
		t.Fatalf("hold --dry-run ALL = %+v, %v", n, err)
	}
	if n, err := c.Change(VerbHold, Filter{Domain: "far.example", IDs: []uint64{uint64(a)}}, false); err != nil || n.Recipients != 1 {
		t.Fatalf("hold = %+v, %v", n, err)
	}
	if got := list(t, c, Filter{State: StateHeld}); len(got) != 1 || got[0].Recipients[1].State != StateHeld || got[0].Recipients[1].NextAttempt != 0 {
		t.Fatalf("held = %+v", got)
	}
	if n, _ := c.Change(VerbRetry, Filter{All: true}, false); n != (Counts{Messages: 1, Recipients: 1}) {
		t.Errorf("retry ALL with one held = %+v", n)
	}
	if n, _ := c.Change(VerbRelease, Filter{All: true}, false); n.Recipients != 1 {
		t.Errorf("release = %+v", n)
	}
	if n, err := c.Change(VerbBounce, Filter{IDs: []uint64{uint64(a)}}, false); err != nil || n != (Counts{Messages: 1, Recipients: 1}) {
		t.Errorf("bounce = %+v, %v", n, err)
	}
	if n, err := c.Change(VerbDelete, Filter{IDs: []uint64{uint64(b), 12345}}, false); err != nil || n != (Counts{Messages: 1, Recipients: 1}) {
		t.Errorf("delete = %+v, %v", n, err)
	}
	if got := list(t, c, Filter{}); len(got) != 0 {
		t.Errorf("queue after bounce and delete: %+v", got)
	}
	if _, err := c.Change(VerbDelete, Filter{}, false); err == nil {
		t.Error("a change that names nothing was taken")
	}
}

func TestOnlyTheAllowedUIDsGetIn(t *testing.T) {
	_, path, _ := serve(t, []int{os.Getuid() + 1})
	if _, err := Dial(path); err == nil || !strings.Contains(err.Error(), "may not administer") {
		t.Fatalf("Dial by a uid not allowed: %v", err)
	}
}

func TestOversizedRequestEndsTheConnection(t *testing.T) {
	_, path, _ := serve(t, []int{os.Getuid()})
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A length header claiming 2 GiB: refused before any allocation.
	c.c.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open after an oversized frame")
	}
}

func TestDialWithNobodyListening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	if _, err := Dial(path); err == nil || !strings.Contains(err.Error(), ErrNotRunning.Error()) {
		t.Fatalf("Dial of no socket: %v", err)
	}
	l, _ := net.Listen("unix", path)
	l.Close()
}

func TestQreadForm(t *testing.T) {
	m := &Message{ID: 7, ArrivalTime: 0, Size: 120, Sender: "a b@x", Bouncing: true, Recipients: []Recipient{
		{Address: "u@x", Channel: "local", State: StateDelivered},
		{Address: "v@y", Channel: "remote", State: StateHeld},
		{Address: "w@y", Channel: "remote", State: StateDeferred},
	}}
	var b bytes.Buffer
	WriteQread(&b, m)
	want := "1 Jan 1970 00:00:00 GMT  #7  120  <a_b@x> bouncing\n  done\tlocal\tu@x\n  held\tremote\tv@y\n\tremote\tw@y\n"
	if b.String() != want {
		t.Fatalf("qread form:\n%q\nwant\n%q", b.String(), want)
	}
}
