package store

import (
	"context"
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many requests share one transaction, so that one
// commit never grows without limit under a flood.
const maxGroup = 512

type commitReq struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// committer runs every write transaction on one goroutine. A request that
// arrives while a commit is being written waits for the next one, which
// then carries everything that queued up meanwhile: group commit without a
// timer.
//
// A request's function may run more than once (when another request in the
// same group fails, the group is rolled back and run again without it), so
// it must put its results only into the transaction and into variables it
// sets afresh on every run.
type committer struct {
	db   *bolt.DB
	reqs chan *commitReq
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.RWMutex
	stopped bool
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, reqs: make(chan *commitReq, maxGroup), quit: make(chan struct{})}
	c.wg.Add(1)
	go c.loop()
	return c
}

func (c *committer) do(ctx context.Context, fn func(*bolt.Tx) error) error {
	req := &commitReq{fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.stopped {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.reqs <- req:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the request will be committed or refused: waiting for
	// the answer even if ctx ends keeps "accepted" and "told accepted"
	// the same thing.
	return <-req.done
}

// stop refuses new requests, commits the queued ones and ends the loop.
func (c *committer) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	close(c.quit)
	c.wg.Wait()
}

func (c *committer) loop() {
	defer c.wg.Done()
	group := make([]*commitReq, 0, maxGroup)
	for {
		select {
		case req := <-c.reqs:
			group = append(group[:0], req)
		case <-c.quit:
			// stop holds the write lock before closing quit, so nothing
			// can be added to reqs after this drain.
			for {
				select {
				case req := <-c.reqs:
					c.run([]*commitReq{req})
				default:
					return
				}
			}
		}
	fill:
		for len(group) < maxGroup {
			select {
			case req := <-c.reqs:
				group = append(group, req)
			default:
				break fill
			}
		}
		c.run(group)
	}
}

// failedReq marks which request of a group made the transaction fail.
type failedReq struct {
	i   int
	err error
}

func (f *failedReq) Error() string { return f.err.Error() }

func (c *committer) run(group []*commitReq) {
	for len(group) > 0 {
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, r := range group {
				if err := r.fn(tx); err != nil {
					return &failedReq{i, err}
				}
			}
			return nil
		})
		var f *failedReq
		if errors.As(err, &f) {
			group[f.i].done <- f.err
			group = append(group[:f.i:f.i], group[f.i+1:]...)
			continue
		}
		for _, r := range group {
			r.done <- err
		}
		return
	}
}
