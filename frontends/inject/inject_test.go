package inject

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

type recorder struct {
	mu   sync.Mutex
	msgs []*store.NewMessage
}

func (r *recorder) Accept(_ context.Context, m *store.NewMessage) (store.MsgID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return store.MsgID(len(r.msgs)), nil
}

func serve(t *testing.T, trusted []int, max int64) (*recorder, string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "me"), []byte("mx.example.org\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "locals"), []byte("localhost\n"), 0o644)
	ctl := control.Open(dir, nil)
	q := &recorder{}
	sock := filepath.Join(t.TempDir(), "inject.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Queue: q, Router: &route.Router{Controls: ctl}, Log: qlog.New(io.Discard, "plain"), TrustedUIDs: trusted, MaxMessageBytes: max}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() { l.Close(); s.CloseConns(); <-done })
	return q, sock
}

func submission(kind string) *store.NewMessage {
	return &store.NewMessage{
		Sender:     "s@example.org",
		Origin:     store.Origin{Kind: kind, RemoteIP: "192.0.2.1", HELO: "client"},
		Body:       []byte("Subject: x\n\nbody\n"),
		Recipients: []store.Recipient{{Address: "u@localhost"}, {Address: "v@far.example"}},
	}
}

func TestTrustedSubmitterKeepsItsSMTPOrigin(t *testing.T) {
	q, sock := serve(t, []int{os.Getuid()}, 1<<20)
	c := &Client{Path: sock}
	defer c.Close()
	for range 2 { // two submissions on one connection
		if _, err := c.Accept(context.Background(), submission("smtp")); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.msgs) != 2 {
		t.Fatalf("%d messages queued", len(q.msgs))
	}
	m := q.msgs[0]
	if m.Origin.Kind != "smtp" || m.Origin.RemoteIP != "192.0.2.1" || m.Origin.HELO != "client" {
		t.Fatalf("origin %+v", m.Origin)
	}
	if m.Recipients[0].Channel != store.Local || m.Recipients[1].Channel != store.Remote {
		t.Fatalf("the daemon did not route the recipients: %+v", m.Recipients)
	}
}

func TestUntrustedSubmitterIsRecordedByUID(t *testing.T) {
	q, sock := serve(t, nil, 1<<20)
	c := &Client{Path: sock}
	defer c.Close()
	if _, err := c.Accept(context.Background(), submission("smtp")); err != nil {
		t.Fatal(err)
	}
	if o := q.msgs[0].Origin; o.Kind != "local" || o.UID != os.Getuid() || o.RemoteIP != "" {
		t.Fatalf("an untrusted claim of SMTP origin was kept: %+v", o)
	}
}

func TestOversizedSubmissionIsRefusedPermanently(t *testing.T) {
	q, sock := serve(t, nil, 10)
	c := &Client{Path: sock}
	defer c.Close()
	_, err := c.Accept(context.Background(), submission("local"))
	if !outcome.IsPermanent(err) || len(q.msgs) != 0 {
		t.Fatalf("oversized submission: %v, %d queued", err, len(q.msgs))
	}
}

func TestNoDaemonIsTemporary(t *testing.T) {
	c := &Client{Path: filepath.Join(t.TempDir(), "none.sock")}
	_, err := c.Accept(context.Background(), submission("local"))
	if err == nil || outcome.IsPermanent(err) {
		t.Fatalf("no daemon: %v", err)
	}
}
