package localdeliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gqmail/gqmail/internal/frame"
)

// Client is the daemon's end of the connection to the helper. Deliver may
// be called from many goroutines; the requests share the connection.
type Client struct {
	conn io.ReadWriteCloser
	w    *bufio.Writer
	wmu  sync.Mutex

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan *Response
	err     error

	done chan struct{}
	wg   sync.WaitGroup
}

// ErrHelperGone is returned when the connection to the helper is lost. The
// daemon cannot start another helper once it has dropped root, so it
// should stop.
var ErrHelperGone = errors.New("lost connection to the local delivery helper")

// NewClient starts reading the helper's answers from conn.
func NewClient(conn io.ReadWriteCloser) *Client {
	c := &Client{conn: conn, w: bufio.NewWriter(conn), waiting: map[uint64]chan *Response{}, done: make(chan struct{})}
	c.wg.Go(c.readLoop)
	return c
}

// Done is closed when the connection to the helper is lost or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Deliver asks the helper to deliver req and waits for the result. An
// error means the helper is gone and the delivery's fate is unknown (it
// must be retried).
func (c *Client) Deliver(ctx context.Context, req *Request) (*Response, error) {
	ch := make(chan *Response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.next++
	id := c.next
	c.waiting[id] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	err := frame.Write(c.w, frame.U64(id), []byte(req.Recipient), []byte(req.Sender), req.Message)
	c.wmu.Unlock()
	if err != nil {
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
		delete(c.waiting, id)
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
	r := bufio.NewReader(c.conn)
	for {
		fields, err := frame.Read(r)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
			return
		}
		id, resp, err := decodeResponse(fields)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrHelperGone, err))
			return
		}
		c.mu.Lock()
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
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
	for id, ch := range c.waiting {
		close(ch)
		delete(c.waiting, id)
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
