package localdeliver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/gqmail/gqmail/internal/frame"
)

// Client is the daemon's end of the connection to the helper. Deliver,
// CheckRecipient and CheckPassword may be called from many goroutines; the
// requests share the connection.
//
// Every request carries a token of 16 random bytes, and an answer is taken
// only for a token the Client is waiting for, and only of the kind asked
// for (a delivery's result/1, a recipient check's rcptinfo/1, an
// authentication's authresult/1): an answer for a token it never sent, or
// that it stopped waiting for, is logged and dropped, and an answer of
// another kind fails its request as a temporary failure. A frame that
// cannot be read as an answer means the connection cannot be trusted any
// more: every waiting request fails (deliveries are deferred) and the
// Client closes, as when the helper is lost.
type Client struct {
	conn *frame.Conn
	warn func(format string, args ...any)

	mu      sync.Mutex
	waiting map[[tokenLen]byte]pending
	err     error

	// rcpts caches CheckRecipient's answers.
	rcpts *recipientCache

	done chan struct{}
	wg   sync.WaitGroup
}

// pending is a request waiting for its answer.
type pending struct {
	// want is the tag of the answer the request takes.
	want string
	ch   chan answer
}

// ErrHelperGone is returned when the connection to the helper is lost. The
// daemon cannot start another helper once it has dropped root, so it
// should stop.
var ErrHelperGone = errors.New("lost connection to the local delivery helper")

// NewClient starts reading the helper's answers from conn. warn reports
// frames that were dropped or broke the connection.
func NewClient(conn *frame.Conn, warn func(format string, args ...any)) *Client {
	c := &Client{conn: conn, warn: warn, waiting: map[[tokenLen]byte]pending{}, rcpts: newRecipientCache(), done: make(chan struct{})}
	c.wg.Go(c.readLoop)
	return c
}

// Done is closed when the connection to the helper is lost or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Deliver asks the helper to deliver req and waits for the result. An
// error means the delivery's fate is unknown and it must be retried: the
// helper is gone (ErrHelperGone), ctx ended, or the helper answered with
// something other than a delivery's result.
func (c *Client) Deliver(ctx context.Context, req *Request) (*Response, error) {
	a, err := c.ask(ctx, tagResult, req.Rest, func(tok []byte) [][]byte { return encodeRequest(tok, req) })
	if err != nil {
		// On ctx's end the helper finishes the delivery anyway; its
		// answer is dropped and the recipient is retried, at worst
		// delivered twice.
		return nil, err
	}
	return a.result, nil
}

// ask sends the request that fields makes with a fresh token, and waits
// for the answer tagged want.
func (c *Client) ask(ctx context.Context, want string, fd *os.File, fields func(tok []byte) [][]byte) (answer, error) {
	var tok [tokenLen]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return answer{}, fmt.Errorf("making a request token: %w", err)
	}
	ch := make(chan answer, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return answer{}, c.err
	}
	c.waiting[tok] = pending{want: want, ch: ch}
	c.mu.Unlock()

	if err := c.conn.Write(fd, fields(tok[:])...); err != nil {
		c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return answer{}, c.failure()
		}
		if a.err != nil {
			return answer{}, a.err
		}
		return a, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, tok)
		c.mu.Unlock()
		return answer{}, ctx.Err()
	}
}

func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) readLoop() {
	for {
		fields, fd, err := c.conn.Read()
		if fd != nil {
			fd.Close()
			c.warn("delivery helper sent a descriptor with an answer; dropping the connection")
			c.fail(fmt.Errorf("%w: it sent a descriptor", ErrHelperGone))
			return
		}
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
			return
		}
		tok, a, err := decodeAnswer(fields)
		if err != nil {
			c.warn("delivery helper sent a frame that is not an answer (%v); deferring every delivery under way and dropping the connection", err)
			c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
			return
		}
		c.mu.Lock()
		var p pending
		if len(tok) == tokenLen {
			key := [tokenLen]byte(tok)
			p = c.waiting[key]
			delete(c.waiting, key)
		}
		c.mu.Unlock()
		if p.ch == nil {
			c.warn("delivery helper answered a request that is not waiting (token %x); answer dropped", tok)
			continue
		}
		if a.tag != p.want {
			// The token is right and the stream intact: only this
			// request fails.
			c.warn("delivery helper answered with %q where %q was due (token %x); the request fails temporarily", a.tag, p.want, tok)
			a = answer{err: fmt.Errorf("the local delivery helper answered with %q where %q was due", a.tag, p.want)}
		}
		p.ch <- a
	}
}

// fail records the first error and wakes every waiting caller.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	for tok, p := range c.waiting {
		close(p.ch)
		delete(c.waiting, tok)
	}
	c.conn.Close()
	close(c.done)
}

// Close closes the connection, which makes the helper finish the
// requests under way and exit.
func (c *Client) Close() error {
	c.fail(ErrHelperGone)
	c.wg.Wait()
	return nil
}
