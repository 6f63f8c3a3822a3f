package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
)

// bounded is how long a test waits for what must happen well before: a
// wait without its bound fails here instead of hanging the test.
const bounded = 5 * time.Second

// fakeWriter is the child's end of a socket pair, for a queue writer that
// says ready (or not) and then answers nothing. got has each message's
// qmail id; ended is closed when the parent has closed the socket.
type fakeWriter struct {
	got   chan uint64
	ended chan struct{}
}

// writerPair is the parent's and the child's ends of a socket pair.
func writerPair(t *testing.T) (parent, child *frame.Conn) {
	t.Helper()
	parent, theirs, err := frame.Pair()
	if err != nil {
		t.Fatal(err)
	}
	if child, err = frame.FileConn(theirs); err != nil {
		parent.Close()
		t.Fatal(err)
	}
	return parent, child
}

func newFakeWriter(t *testing.T, ready bool) (*frame.Conn, *fakeWriter) {
	t.Helper()
	parent, child := writerPair(t)
	w := &fakeWriter{got: make(chan uint64, 16), ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		defer child.Close()
		if ready {
			child.Write(nil, []byte("ready"))
		}
		for {
			f, fd, err := child.Read()
			if fd != nil {
				fd.Close()
			}
			if err != nil {
				return
			}
			if _, m, err := decodeMessage(f); err == nil {
				w.got <- m.ID
			}
		}
	}()
	t.Cleanup(func() {
		parent.Close()
		select {
		case <-w.ended:
		case <-time.After(bounded):
			t.Error("the fake queue writer did not end")
		}
	})
	return parent, w
}

func messFile(t *testing.T, size int) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mess")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The parent's wait for "ready" outlasts the child's own wait for
// queue.db's lock, so that the child's error naming the lock's holder
// comes first.
func TestWriterReadyBoundOutlastsTheChildsLockWait(t *testing.T) {
	if defaultWriterBounds.Ready <= WriterLockTimeout {
		t.Errorf("ready bound %v, child's lock wait %v", defaultWriterBounds.Ready, WriterLockTimeout)
	}
}

func TestWriterClientGivesUpOnAChildThatNeverSaysReady(t *testing.T) {
	conn, _ := newFakeWriter(t, false)
	type result struct {
		c   *QueueWriterClient
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		c, err := newQueueWriterClient(conn, writerBounds{Ready: 50 * time.Millisecond, Answer: time.Hour})
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.c != nil || !errors.Is(r.err, ErrWriterTimeout) {
			t.Fatalf("client %v, error %v; want ErrWriterTimeout", r.c, r.err)
		}
		if !strings.Contains(r.err.Error(), "opened the queue database in 50ms") {
			t.Errorf("error %q does not say which wait ran out after how long", r.err)
		}
		t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
	case <-time.After(bounded):
		t.Fatalf("still waiting for ready after %v: the wait has no bound", bounded)
	}
}

func TestWriterClientGivesUpOnAChildThatNeverAnswers(t *testing.T) {
	conn, w := newFakeWriter(t, true)
	c, err := newQueueWriterClient(conn, writerBounds{Ready: bounded, Answer: 100 * time.Millisecond, Rate: 10 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type result struct {
		id  uint64
		err error
	}
	errs := make(chan result, 2)
	queue := func(id uint64) {
		m := &QueueMessage{ID: id, Key: "k", Sender: "a@x.test", Recipients: []string{"b@y.test"}, UID: -1, Arrived: time.Now(), Size: 1 << 19}
		body := messFile(t, 1<<19)
		go func() {
			_, _, err := c.Queue(context.Background(), m, body)
			errs <- result{id, err}
		}()
	}
	start := time.Now()
	queue(4711)
	// A second message in hand, most likely sent before the bound runs
	// out; if not, it is refused at once, with the same error. (Whether
	// the fake child has read either yet does not matter: a loaded
	// machine may not run it within the bound.)
	queue(4712)
	for range 2 {
		select {
		case r := <-errs:
			if !errors.Is(r.err, ErrWriterTimeout) {
				t.Fatalf("Queue(%d) = %v, want ErrWriterTimeout", r.id, r.err)
			}
			msg := r.err.Error()
			if r.id == 4711 && (!strings.Contains(msg, "qmail message 4711 got no answer in ") || !strings.Contains(msg, "no message got one in ") ||
				!strings.Contains(msg, "of bodies in hand, in ")) {
				t.Errorf("error %q does not say which wait ran out after how long for which message", msg)
			}
			t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
		case <-time.After(bounded):
			t.Fatalf("Queue still waiting after %v: the wait for an answer has no bound", bounded)
		}
	}
	// The socket is closed: the child sees its end, and the client takes
	// no more messages.
	select {
	case <-w.ended:
	case <-time.After(bounded):
		t.Fatal("the socket stays open after the timeout")
	}
	if _, _, err := c.Queue(context.Background(), &QueueMessage{ID: 1}, messFile(t, 0)); !errors.Is(err, ErrWriterTimeout) {
		t.Errorf("Queue after the timeout = %v", err)
	}
}

// The bound is on the child's silence: a child that keeps answering is
// waited for, however long the messages behind wait in all.
func TestWriterClientWaitsForAChildThatKeepsAnswering(t *testing.T) {
	parent, child := writerPair(t)
	// The gap is a twentieth of the bound, so that a loaded machine's
	// scheduling cannot make it look silent.
	const n, gap, answer = 5, 50 * time.Millisecond, time.Second
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer child.Close()
		child.Write(nil, []byte("ready"))
		var seqs []uint64
		for range n {
			f, fd, err := child.Read()
			if fd != nil {
				fd.Close()
			}
			if err != nil {
				return
			}
			seq, _, _ := decodeMessage(f)
			seqs = append(seqs, seq)
		}
		for _, seq := range seqs {
			time.Sleep(gap)
			child.Write(nil, []byte("ok"), frame.U64(seq), nil)
		}
		child.Read() // until the parent closes
	}()
	c, err := newQueueWriterClient(parent, writerBounds{Ready: bounded, Answer: answer})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			m := &QueueMessage{ID: uint64(i + 1), Key: "k", Recipients: []string{"b@y.test"}, UID: -1, Arrived: time.Now(), Size: 1}
			_, _, err := c.Queue(context.Background(), m, messFile(t, 1))
			errs <- err
		}()
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("Queue = %v, from a child that answered every %v with a bound of %v", err, gap, answer)
			}
		case <-time.After(bounded):
			t.Fatal("no answer")
		}
	}
	c.Close()
	select {
	case <-served:
	case <-time.After(bounded):
		t.Fatal("the fake queue writer did not end")
	}
}

func TestWriterSilenceAllowsASecondAMiBInHand(t *testing.T) {
	b := writerBounds{Answer: 2 * time.Minute, Rate: 1 << 20}
	for _, c := range []struct {
		bytes int64
		want  time.Duration
	}{
		{0, 2 * time.Minute},
		{1 << 19, 2*time.Minute + 500*time.Millisecond},
		{128 * 10 << 20, 2*time.Minute + 1280*time.Second},
		// A sparse mess file of a PiB allows an hour, not 34 years.
		{1 << 50, 2*time.Minute + time.Hour},
		{1<<63 - 1, 2*time.Minute + time.Hour},
	} {
		if got := b.silence(c.bytes); got != c.want {
			t.Errorf("silence(%d) = %v, want %v", c.bytes, got, c.want)
		}
	}
}
