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

// QueueWriterClient is the parent's side: a Queuer whose messages the
// child queues.
type QueueWriterClient struct {
	conn *frame.Conn

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]chan writerAnswer
	dead    error
}

type writerAnswer struct {
	kind, text string
	err        error
}

// NewQueueWriterClient waits for the child's first word on conn: nil
// once it has opened the database, or the error it could not open it
// with.
func NewQueueWriterClient(conn *frame.Conn) (*QueueWriterClient, error) {
	f, fd, err := conn.ReadLimit(writerMaxFrame)
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
	c := &QueueWriterClient{conn: conn, pending: map[uint64]chan writerAnswer{}}
	go c.read()
	return c, nil
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
		ch := c.pending[seq]
		delete(c.pending, seq)
		c.mu.Unlock()
		if !ok || ch == nil {
			err = errors.New("the queue writer answered what was not asked")
			break
		}
		ch <- writerAnswer{kind: string(f[0]), text: string(f[2])}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the queue writer ended (see above)")
	}
	c.mu.Lock()
	c.dead = err
	for seq, ch := range c.pending {
		ch <- writerAnswer{err: err}
		delete(c.pending, seq)
	}
	c.mu.Unlock()
}

// Queue sends m and its body's descriptor to the child and waits for its
// answer. It does not give up on ctx: the child ends each message it was
// given, and the answer says how.
func (c *QueueWriterClient) Queue(_ context.Context, m *QueueMessage, body *os.File) (bool, string, error) {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return false, "", c.dead
	}
	c.seq++
	seq := c.seq
	ch := make(chan writerAnswer, 1)
	c.pending[seq] = ch
	c.mu.Unlock()
	if err := c.conn.Write(body, encodeMessage(seq, m)...); err != nil {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
		return false, "", fmt.Errorf("to the queue writer: %w", err)
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

// Close closes the socket: the child closes the database and ends.
func (c *QueueWriterClient) Close() error { return c.conn.Close() }

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
