package migrate

// The queue writer: when qmailctl migrate queue runs as root, it reads
// qmail's queue itself but never opens anything under the gqmail root's
// queue/, which the daemon's account owns and could have filled with
// links. A child running as that account (qmailctl migrate queue-writer)
// holds the queue database and queues each message; the two speak
// internal/frame over a socket pair:
//
//	child:  "ready"                       the database is open
//	        "fail" text                   it is not; the child ends
//	parent: "msg" seq id key sender uid+1 arrived-ns size done kind n
//	        rcpt... [deliver channel]...  with the mess file's descriptor
//	child:  "ok"|"skip"|"problem"|"error" seq text
//
// kind is "p" for a preprocessed message (n routes follow the n
// recipients) or "t" for one from todo/. The parent closes the socket
// when done; the child then closes the database and exits.
//
// The parent's waits are bounded (writerBounds), since a hung child
// (queue.db's lock taken by a daemon started meanwhile, a stuck disk, a
// bug) would otherwise hang the administrator's command without a word:
// "ready" must come within WriterLockTimeout and a minute, and while it
// has messages in hand the child must answer one of them at least every
// two minutes, plus a second for each MiB of their bodies. When a bound
// runs out the waits end with an error wrapping ErrWriterTimeout, naming
// the wait, how long it lasted and the message, and the caller kills the
// child. Nothing is half-written then: the child queues each message in
// one transaction of the store (its envelope, recipients, body or the
// name of its synced body file, and its import key), which a kill leaves
// either committed or absent; a body file no message names yet is an
// orphan that the daemon removes when it starts (store.RemoveOrphanBodies),
// and the messages stay in qmail's queue, so an import run again queues
// those whose commit did not happen and skips the others by their key.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/route"
)

// writerMaxFrame bounds a frame either side sends: an envelope.
const writerMaxFrame = 64 << 20

// WriterLockTimeout is how long the queue writer waits for queue.db's
// lock (store.Options.LockTimeout) before it says "fail" with who holds
// it. The parent's wait for "ready" is this and a minute, so that the
// child's own, more precise error always comes first.
const WriterLockTimeout = time.Second

// ErrWriterTimeout is wrapped by the error of a wait for the queue
// writer that ran out of its bound. The child may be hung: the caller
// kills it.
var ErrWriterTimeout = errors.New("the queue writer is not answering")

// writerBounds bound the parent's waits for the queue writer; tests make
// them short.
type writerBounds struct {
	// Ready bounds the wait for "ready" (or "fail").
	Ready time.Duration
	// Answer and Rate bound the time the child, with messages in hand,
	// may go without answering any of them: Answer, plus a second for
	// each Rate bytes of the bodies in hand.
	Answer time.Duration
	Rate   int64
}

// defaultWriterBounds are NewQueueWriterClient's bounds.
//
// Before "ready" the child checks the root's control files, waits up to
// WriterLockTimeout for queue.db's lock, then bbolt reads the whole file
// to rebuild its free list (the store does not sync it) and the store
// checks the schema: seconds for a large queue.db read cold from a slow
// disk. A minute more than the lock's wait is generous for that.
//
// An answer normally takes milliseconds: the child copies the body (into
// the database up to store.InlineMax, into a file beyond), syncs the file
// and commits. But commits are shared, so before it answers any message
// the child may have to write and sync the bodies of every message in
// hand (up to ImportOptions.Workers of them), and each sync may wait
// behind the kernel's writeback of other dirty data. So the bound is on
// silence, not on one message: it restarts with every answer, and is two
// minutes (a sync stalled that long is a disk in trouble) plus a second a
// MiB in hand (1 MiB/s is below any working disk, a degraded RAID or
// network storage included). 128 messages of 10 MiB in hand allow 23
// minutes; a hung child with small messages in hand is found after about
// two.
var defaultWriterBounds = writerBounds{
	Ready:  WriterLockTimeout + time.Minute,
	Answer: 2 * time.Minute,
	Rate:   1 << 20,
}

// silence is how long the child may go without answering while it holds
// bytes of bodies.
//
// The allowance for bodies is at most maxBodyAllowance: the sizes are
// those of qmail's mess files, which qmail's accounts can write, and a
// sparse file of terabytes would otherwise allow months of silence (or
// overflow a Duration).
func (b writerBounds) silence(bytes int64) time.Duration {
	if b.Rate <= 0 {
		return b.Answer
	}
	whole, rest := bytes/b.Rate, bytes%b.Rate
	if bytes < 0 || whole >= int64(maxBodyAllowance/time.Second) {
		// bytes < 0: the sum of sizes in hand wrapped around
		return b.Answer + maxBodyAllowance
	}
	return b.Answer + time.Duration(whole)*time.Second + time.Duration(rest)*time.Second/time.Duration(b.Rate)
}

// maxBodyAllowance caps the silence allowed for bodies in hand: an hour
// copies 3.6 GB at 1 MiB/s, more than any one message qmail took.
const maxBodyAllowance = time.Hour

// QueueWriterClient is the parent's side: a Queuer whose messages the
// child queues.
type QueueWriterClient struct {
	conn   *frame.Conn
	bounds writerBounds

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]*pendingMessage
	dead    error
	// inHand sums the sizes of the pending messages; heard is when the
	// child last answered, or when it was last given a message with
	// none in hand. watch runs stalled at heard + the silence allowed.
	inHand int64
	heard  time.Time
	watch  *time.Timer

	closeOnce sync.Once
	closeErr  error
}

// pendingMessage is a message sent and not yet answered.
type pendingMessage struct {
	ch   chan writerAnswer
	id   uint64
	size int64
	sent time.Time
}

type writerAnswer struct {
	kind, text string
	err        error
}

// NewQueueWriterClient waits for the child's first word on conn: nil
// once it has opened the database, or the error it could not open it
// with. It waits WriterLockTimeout and a minute at most; then its error
// wraps ErrWriterTimeout, and the caller kills the child and closes conn.
func NewQueueWriterClient(conn *frame.Conn) (*QueueWriterClient, error) {
	return newQueueWriterClient(conn, defaultWriterBounds)
}

func newQueueWriterClient(conn *frame.Conn, bounds writerBounds) (*QueueWriterClient, error) {
	type first struct {
		f   [][]byte
		fd  *os.File
		err error
	}
	got := make(chan first, 1)
	go func() {
		f, fd, err := conn.ReadLimit(writerMaxFrame)
		got <- first{f, fd, err}
	}()
	timer := time.NewTimer(bounds.Ready)
	var r first
	select {
	case r = <-got:
		timer.Stop()
	case <-timer.C:
		conn.CloseRead() // wakes the reader, which this waits for
		if r = <-got; r.fd != nil {
			r.fd.Close()
		}
		return nil, fmt.Errorf("%w: it did not say it had opened the queue database in %v (its own wait for the database's lock is %v)",
			ErrWriterTimeout, bounds.Ready, WriterLockTimeout)
	}
	f, fd, err := r.f, r.fd, r.err
	if fd != nil {
		fd.Close()
	}
	switch {
	case errors.Is(err, io.EOF):
		return nil, errors.New("the queue writer ended before it opened the queue (see above)")
	case err != nil:
		return nil, fmt.Errorf("the queue writer: %w", err)
	case len(f) == 2 && string(f[0]) == "fail":
		return nil, errors.New(string(f[1]))
	case len(f) != 1 || string(f[0]) != "ready":
		return nil, errors.New("the queue writer said something unexpected")
	}
	c := &QueueWriterClient{conn: conn, bounds: bounds, pending: map[uint64]*pendingMessage{}}
	c.watch = time.AfterFunc(time.Hour, c.stalled)
	c.watch.Stop()
	go c.read()
	return c, nil
}

// rearm sets the watch for the pending messages, or stops it when there
// are none. c.mu is held.
func (c *QueueWriterClient) rearm() {
	if len(c.pending) == 0 {
		c.watch.Stop()
		return
	}
	c.watch.Reset(time.Until(c.heard.Add(c.bounds.silence(c.inHand))))
}

// stalled runs when the child may have gone silent for too long: if it
// has, every pending message gets an error wrapping ErrWriterTimeout, and
// the socket is closed, which ends the reader and any write blocked on a
// child that stopped reading.
func (c *QueueWriterClient) stalled() {
	c.mu.Lock()
	if c.dead != nil || len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	silence, quiet := c.bounds.silence(c.inHand), now.Sub(c.heard)
	if quiet < silence {
		c.rearm() // an answer or a message came since the watch was set
		c.mu.Unlock()
		return
	}
	quiet = quiet.Round(time.Millisecond)
	n, bytes := len(c.pending), c.inHand
	c.failPendingLocked(func(p *pendingMessage) error {
		return fmt.Errorf("%w: qmail message %d got no answer in %v, and no message got one in %v (the bound with %d bytes of bodies in hand, in %d message(s), is %v)",
			ErrWriterTimeout, p.id, now.Sub(p.sent).Round(time.Millisecond), quiet, bytes, n, silence.Round(time.Millisecond))
	})
	c.dead = fmt.Errorf("%w: it answered no message in %v", ErrWriterTimeout, quiet)
	c.mu.Unlock()
	c.Close()
}

// failPendingLocked answers every pending message with the error errOf
// gives it, and forgets them. c.mu is held.
func (c *QueueWriterClient) failPendingLocked(errOf func(*pendingMessage) error) {
	for seq, p := range c.pending {
		p.ch <- writerAnswer{err: errOf(p)}
		delete(c.pending, seq)
	}
	c.inHand = 0
}

func (c *QueueWriterClient) read() {
	var err error
	for {
		var f [][]byte
		var fd *os.File
		f, fd, err = c.conn.ReadLimit(writerMaxFrame)
		if fd != nil {
			fd.Close()
			err = errors.New("the queue writer sent a descriptor")
		}
		if err != nil {
			break
		}
		var seq uint64
		ok := len(f) == 3
		if ok {
			seq, ok = frame.GetU64(f[1])
		}
		c.mu.Lock()
		p := c.pending[seq]
		if ok && p != nil {
			delete(c.pending, seq)
			c.inHand -= p.size
			c.heard = time.Now()
			c.rearm()
		}
		c.mu.Unlock()
		if !ok || p == nil {
			err = errors.New("the queue writer answered what was not asked")
			break
		}
		p.ch <- writerAnswer{kind: string(f[0]), text: string(f[2])}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the queue writer ended (see above)")
	}
	c.mu.Lock()
	if c.dead == nil {
		c.dead = err
	}
	c.failPendingLocked(func(*pendingMessage) error { return err })
	c.watch.Stop()
	c.mu.Unlock()
}

// Queue sends m and its body's descriptor to the child and waits for its
// answer. It does not give up on ctx: the child ends each message it was
// given, and the answer says how. It gives up when the child, with
// messages in hand, answers none of them for too long (writerBounds):
// then this and every other pending call fail with an error wrapping
// ErrWriterTimeout, the socket is closed, and the caller kills the child.
func (c *QueueWriterClient) Queue(_ context.Context, m *QueueMessage, body *os.File) (bool, string, error) {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return false, "", c.dead
	}
	c.seq++
	seq := c.seq
	ch := make(chan writerAnswer, 1)
	now := time.Now()
	if len(c.pending) == 0 {
		c.heard = now // the child owes an answer from now on
	}
	c.pending[seq] = &pendingMessage{ch: ch, id: m.ID, size: m.Size, sent: now}
	c.inHand += m.Size
	c.rearm()
	c.mu.Unlock()
	if err := c.conn.Write(body, encodeMessage(seq, m)...); err != nil {
		c.mu.Lock()
		_, mine := c.pending[seq]
		if mine {
			delete(c.pending, seq)
			c.inHand -= m.Size
			c.rearm()
		}
		c.mu.Unlock()
		if mine {
			return false, "", fmt.Errorf("to the queue writer: %w", err)
		}
		// The watch gave up (and closed the socket under the write):
		// its answer says why.
	}
	a := <-ch
	switch {
	case a.err != nil:
		return false, "", a.err
	case a.kind == "ok":
		return false, "", nil
	case a.kind == "skip":
		return true, "", nil
	case a.kind == "problem":
		return false, a.text, nil
	default:
		return false, "", errors.New(a.text)
	}
}

// Close closes the socket: the child closes the database and ends. It
// may be called more than once.
func (c *QueueWriterClient) Close() error {
	c.closeOnce.Do(func() {
		c.watch.Stop()
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}

func encodeMessage(seq uint64, m *QueueMessage) [][]byte {
	kind := "t"
	if m.Preprocessed() {
		kind = "p"
	}
	f := [][]byte{[]byte("msg"), frame.U64(seq), frame.U64(m.ID), []byte(m.Key), []byte(m.Sender),
		frame.U64(uint64(int64(m.UID) + 1)), frame.U64(uint64(m.Arrived.UnixNano())), frame.U64(uint64(m.Size)),
		frame.U64(uint64(m.Done)), []byte(kind), frame.U64(uint64(len(m.Recipients)))}
	for _, r := range m.Recipients {
		f = append(f, []byte(r))
	}
	if m.Preprocessed() {
		for _, r := range m.Routes {
			f = append(f, []byte(r.Deliver), []byte{byte(r.Channel)})
		}
	}
	return f
}

func decodeMessage(f [][]byte) (uint64, *QueueMessage, error) {
	bad := errors.New("malformed message frame")
	if len(f) < 11 || string(f[0]) != "msg" {
		return 0, nil, bad
	}
	var u [8]uint64
	for i, idx := range []int{1, 2, 5, 6, 7, 8, 10} {
		v, ok := frame.GetU64(f[idx])
		if !ok {
			return 0, nil, bad
		}
		u[i] = v
	}
	seq, n := u[0], u[6]
	m := &QueueMessage{ID: u[1], Key: string(f[3]), Sender: string(f[4]), UID: int(int64(u[2]) - 1),
		Arrived: time.Unix(0, int64(u[3])), Size: int64(u[4]), Done: int(u[5]), Mess: "mess " + strconv.FormatUint(u[1], 10)}
	if int64(m.Size) < 0 || n > uint64(len(f)) {
		return 0, nil, bad
	}
	rest := f[11:]
	switch string(f[9]) {
	case "t":
		if uint64(len(rest)) != n {
			return 0, nil, bad
		}
	case "p":
		if uint64(len(rest)) != 3*n {
			return 0, nil, bad
		}
		m.Routes = []route.Route{}
		for i := range n {
			r := rest[n+2*i:]
			if len(r[1]) != 1 || route.Channel(r[1][0]) != route.Local && route.Channel(r[1][0]) != route.Remote {
				return 0, nil, bad
			}
			m.Routes = append(m.Routes, route.Route{Deliver: string(r[0]), Channel: route.Channel(r[1][0])})
		}
	default:
		return 0, nil, bad
	}
	for _, r := range rest[:n] {
		m.Recipients = append(m.Recipients, string(r))
	}
	return seq, m, nil
}

// ServeQueueWriter is the child's side: it queues into q each message
// that arrives on conn, workers at a time (their commits are shared),
// until the parent closes the socket. The caller said "ready" first.
func ServeQueueWriter(conn *frame.Conn, q Queuer, workers int) error {
	if workers <= 0 {
		workers = 128
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		f, fd, err := conn.ReadLimit(writerMaxFrame)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		seq, m, err := decodeMessage(f)
		if err == nil && fd == nil {
			err = errors.New("a message frame without its body's descriptor")
		}
		if err != nil {
			if fd != nil {
				fd.Close()
			}
			return err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			skipped, problem, err := q.Queue(context.Background(), m, fd)
			fd.Close()
			kind, text := "ok", ""
			switch {
			case err != nil:
				kind, text = "error", err.Error()
			case problem != "":
				kind, text = "problem", problem
			case skipped:
				kind = "skip"
			}
			conn.Write(nil, []byte(kind), frame.U64(seq), []byte(text))
		}()
	}
}
