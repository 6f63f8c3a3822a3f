package localdeliver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/gqmail/gqmail/internal/frame"
)

// Client is the daemon's end of the connection to the helper. Deliver may
// be called from many goroutines; the requests share the connection.
//
// Every request carries a token of 16 random bytes, and an answer is taken
// only for a token the Client is waiting for: an answer for a token it
// never sent, or that it stopped waiting for, is logged and dropped. A
// frame that cannot be read as an answer means the connection cannot be
// trusted any more: every waiting delivery is deferred and the Client
// closes, as when the helper is lost.
type Client struct {
	conn *frame.Conn
	warn func(format string, args ...any)

	mu      sync.Mutex
	waiting map[[tokenLen]byte]chan *Response
	err     error

	done chan struct{}
	wg   sync.WaitGroup
}

// ErrHelperGone is returned when the connection to the helper is lost. The
// daemon cannot start another helper once it has dropped root, so it
// should stop.
var ErrHelperGone = errors.New("lost connection to the local delivery helper")

// NewClient starts reading the helper's answers from conn. warn reports
// frames that were dropped or broke the connection.
func NewClient(conn *frame.Conn, warn func(format string, args ...any)) *Client {
	c := &Client{conn: conn, warn: warn, waiting: map[[tokenLen]byte]chan *Response{}, done: make(chan struct{})}
	c.wg.Go(c.readLoop)
	return c
}

// Done is closed when the connection to the helper is lost or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Deliver asks the helper to deliver req and waits for the result. An
// error means the helper is gone and the delivery's fate is unknown (it
// must be retried).
func (c *Client) Deliver(ctx context.Context, req *Request) (*Response, error) {
	var tok [tokenLen]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("making a request token: %w", err)
	}
	ch := make(chan *Response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.waiting[tok] = ch
	c.mu.Unlock()

	if err := c.conn.Write(req.Rest, encodeRequest(tok[:], req)...); err != nil {
		c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, c.failure()
		}
		return resp, nil
	case <-ctx.Done():
		// The helper finishes the delivery anyway; its answer is dropped
		// and the recipient is retried, at worst delivered twice.
		c.mu.Lock()
		delete(c.waiting, tok)
		c.mu.Unlock()
		return nil, ctx.Err()
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
		tok, resp, err := decodeResult(fields)
		if err != nil {
			c.warn("delivery helper sent a frame that is not an answer (%v); deferring every delivery under way and dropping the connection", err)
			c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
			return
		}
		c.mu.Lock()
		var ch chan *Response
		if len(tok) == tokenLen {
			key := [tokenLen]byte(tok)
			ch = c.waiting[key]
			delete(c.waiting, key)
		}
		c.mu.Unlock()
		if ch == nil {
			c.warn("delivery helper answered a request that is not waiting (token %x); answer dropped", tok)
			continue
		}
		ch <- resp
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
	for tok, ch := range c.waiting {
		close(ch)
		delete(c.waiting, tok)
	}
	c.conn.Close()
	close(c.done)
}

// Close closes the connection, which makes the helper finish the
// deliveries under way and exit.
func (c *Client) Close() error {
	c.fail(ErrHelperGone)
	c.wg.Wait()
	return nil
}
