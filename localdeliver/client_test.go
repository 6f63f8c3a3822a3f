package localdeliver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
)

// fakeHelper is the helper's end of a Client's connection, driven by the
// test.
func fakeHelper(t *testing.T) (*Client, *frame.Conn, *warnings) {
	t.Helper()
	mine, theirs, err := frame.Pair()
	if err != nil {
		t.Fatal(err)
	}
	helper, err := frame.FileConn(theirs)
	if err != nil {
		t.Fatal(err)
	}
	w := &warnings{}
	c := NewClient(mine, w.add)
	t.Cleanup(func() { c.Close(); helper.Close() })
	return c, helper, w
}

type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) add(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, fmt.Sprintf(format, args...))
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// deliverAsync starts a delivery and returns where its result will be.
func deliverAsync(c *Client) chan error {
	out := make(chan error, 1)
	go func() {
		resp, err := c.Deliver(context.Background(), &Request{Recipient: "joe@example.org", Message: []byte("x\n")})
		if err == nil && resp.Err == nil {
			err = errors.New("success")
		}
		out <- err
	}()
	return out
}

// answerWait bounds every wait in these tests: a client that drops or
// mistakes an answer fails the test rather than hanging it.
const answerWait = 10 * time.Second

// within waits at most answerWait for ch, failing the test with what was
// awaited.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(answerWait):
		t.Fatalf("%s: nothing after %v", what, answerWait)
		panic("unreachable")
	}
}

// readRequest reads the client's next request on the helper's end,
// within answerWait.
func readRequest(t *testing.T, helper *frame.Conn) [][]byte {
	t.Helper()
	type read struct {
		fields [][]byte
		err    error
	}
	ch := make(chan read, 1)
	go func() {
		fields, fd, err := helper.Read()
		if fd != nil {
			fd.Close()
		}
		ch <- read{fields, err}
	}()
	r := within(t, ch, "the client's request never reached the helper")
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.fields
}

// An answer whose token the client never sent is dropped and logged;
// the delivery waits for its own answer.
func TestClientTakesOnlyAnswersToItsOwnTokens(t *testing.T) {
	c, helper, w := fakeHelper(t)
	result := deliverAsync(c)
	fields := readRequest(t, helper)
	tok, req, err := decodeRequest(fields)
	if err != nil || req.Recipient != "joe@example.org" {
		t.Fatalf("request: %v %+v", err, req)
	}
	forged := append([]byte(nil), tok...)
	forged[0] ^= 0xff
	helper.Write(nil, encodeResult(forged, &Response{Report: "did 0+1+0", Forward: []string{"mallory@example.org"}})...)
	helper.Write(nil, encodeResult([]byte("short"), &Response{Report: "did 1+0+0"})...)
	// Answers are read in order: had a forged one been taken, the
	// delivery would have ended in success before this one came.
	helper.Write(nil, encodeResult(tok, &Response{Err: outcome.Temporary("real")})...)
	if err := within(t, result, "the delivery never took its own answer"); err != nil {
		t.Fatalf("the delivery ended with %v, not with its own answer", err)
	}
	if n := strings.Count(w.String(), "answered a request that is not waiting"); n != 2 {
		t.Fatalf("warnings: %q, want two dropped answers", w)
	}
}

// A frame that is not an answer defers every delivery under way and
// closes the client: the stream cannot be trusted after it.
func TestClientDefersOnAMalformedAnswer(t *testing.T) {
	for name, bad := range map[string][][]byte{
		"unknown status": {[]byte(tagResult), make([]byte, tokenLen), {'X'}, nil, nil},
		"another tag":    {[]byte("result/9"), make([]byte, tokenLen), {'K'}, nil, nil},
		"no fields":      {},
	} {
		t.Run(name, func(t *testing.T) {
			c, helper, w := fakeHelper(t)
			result := deliverAsync(c)
			readRequest(t, helper)
			helper.Write(nil, bad...)
			if err := within(t, result, "after a malformed answer the delivery is still waiting, not deferred"); !errors.Is(err, ErrHelperGone) {
				t.Fatalf("Deliver = %v, want ErrHelperGone (a deferral)", err)
			}
			within(t, c.Done(), "after a malformed answer the client is still open")
			if !strings.Contains(w.String(), "not an answer") {
				t.Fatalf("warnings: %q", w)
			}
		})
	}
}
