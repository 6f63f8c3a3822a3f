package inject

import (
	"bufio"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// queue puts a message of origin o into f's queue, to rcpts.
func (f *fixture) queue(t *testing.T, o store.Origin, sender string, rcpts ...string) store.MsgID {
	t.Helper()
	id, err := f.db.Accept(context.Background(), &store.NewMessage{Sender: sender, Recipients: rcpts, Origin: o, Body: []byte("Subject: x\n\nx\n")})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// An ordinary user lists only the messages they injected, and never a
// local delivery's report (another user's .qmail program wrote it); a
// trusted uid lists everything.
func TestListShowsAnOrdinaryUserTheirOwn(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		var uids []int
		if trusted {
			uids = []int{os.Getuid()}
		}
		f := serve(t, uids, 1<<20)
		f.queue(t, store.Origin{Kind: "local", UID: os.Getuid()}, "mine@example.org", "u@localhost", "far@far.example")
		f.queue(t, store.Origin{Kind: "local", UID: 4321}, "theirs@example.org", "u@localhost")
		f.queue(t, store.Origin{Kind: "smtp", RemoteIP: "192.0.2.1", UID: -1}, "remote@example.org", "u@localhost")
		envs, _ := f.queued(t)
		rs, _ := f.db.Recipients(envs[0].ID)
		for i := range rs {
			if _, err := f.db.Record(context.Background(), store.Result{Ref: store.Ref{Msg: envs[0].ID, Index: uint32(i)}, Outcome: outcome.Deferred,
				Text: "program output: the token is SEKRIT", Next: time.Now().Add(time.Hour)}, nil); err != nil {
				t.Fatal(err)
			}
		}

		list, err := submission.List(context.Background(), f.sock)
		if err != nil {
			t.Fatal(err)
		}
		var senders []string
		for _, m := range list {
			senders = append(senders, m.Sender)
		}
		want := "mine@example.org"
		if trusted {
			want = "mine@example.org theirs@example.org remote@example.org"
		}
		if got := strings.Join(senders, " "); got != want {
			t.Errorf("trusted %v: listed %q, want %q", trusted, got, want)
		}
		local := list[0].Recipients[0]
		if local.Channel != "local" || strings.Contains(local.LastText, "SEKRIT") != trusted {
			t.Errorf("trusted %v: a local report shown as %q", trusted, local.LastText)
		}
		if remote := list[0].Recipients[1]; !strings.Contains(remote.LastText, "SEKRIT") {
			t.Errorf("trusted %v: a remote report shown as %q", trusted, remote.LastText)
		}
	}
}

// A client that asks for the listing and never reads it holds its place
// no longer than the connection's time limit.
func TestListToAClientThatDoesNotReadEnds(t *testing.T) {
	f := serve(t, nil, 1<<20, func(s *Server) { s.MaxConnTime = time.Second })
	long := strings.Repeat("r", 800)
	var rcpts []string
	for i := range 1000 {
		rcpts = append(rcpts, long+"-"+strconv.Itoa(i)+"@far.example")
	}
	for range 4 { // 3 MB of listing, more than the socket buffers hold
		f.queue(t, store.Origin{Kind: "local", UID: os.Getuid()}, "s@example.org", rcpts...)
	}
	conn, err := net.Dial("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := frame.Read(bufio.NewReader(conn)); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	frame.Write(w, []byte(submission.TagList))
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.srv.mu.Lock()
		n := len(f.srv.conns)
		f.srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection is still held 10 s after its 1 s limit")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
