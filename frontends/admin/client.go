package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// Reader reads the queue: through the daemon (Client) or, while it is
// stopped, from the database (Local).
type Reader interface {
	List(f Filter, emit func(*Message) error) error
	Stat(f Filter) (*Stat, error)
	Show(id uint64, body bool, emit func(*Message) error, w io.Writer) error
	Close() error
}

// ErrNotRunning is what Dial's error wraps when no daemon answers at the
// socket (there is none, or nobody listens on it).
var ErrNotRunning = errors.New("the gqmail daemon is not running")

// Client speaks to the daemon's admin socket. It is not safe for
// concurrent use.
type Client struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// Dial connects to the daemon's admin socket at path and reads its
// greeting.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (no one answers at %s)", ErrNotRunning, path)
		}
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	cl := &Client{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriter(c)}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	f, err := frame.ReadLimit(cl.r, MaxAnswer)
	c.SetReadDeadline(time.Time{})
	var refusal error
	ok := false
	if err == nil && len(f) == 3 && string(f[0]) == TagHello && len(f[1]) == 1 {
		refusal, ok = outcome.FromLetter(f[1][0], string(f[2]))
	}
	if !ok {
		c.Close()
		return nil, fmt.Errorf("the daemon at %s did not greet as this release's does (%.40q, %v); is it the same version?", path, f, err)
	}
	if refusal != nil {
		c.Close()
		return nil, fmt.Errorf("the daemon at %s refused: %w", path, refusal)
	}
	return cl, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) send(fields ...[]byte) error {
	c.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return frame.Write(c.w, fields...)
}

// read reads one answer frame; an "error" frame becomes an error.
func (c *Client) read() ([][]byte, error) {
	// A page of a large queue takes the daemon a moment; a minute
	// without a frame means it is stuck.
	c.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	f, err := frame.ReadLimit(c.r, MaxAnswer)
	if err != nil {
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if len(f) == 0 {
		return nil, errors.New("the daemon sent an empty frame")
	}
	if string(f[0]) == TagError && len(f) == 2 {
		return nil, fmt.Errorf("the daemon says: %s", f[1])
	}
	return f, nil
}

func encodeFilter(f Filter) []byte {
	b, _ := json.Marshal(f)
	return b
}

// messages reads msg and rcpts frames until a frame of another kind,
// which it returns, calling emit with each whole message.
func (c *Client) messages(emit func(*Message) error) ([][]byte, error) {
	var cur *Message
	flush := func() error {
		if cur == nil {
			return nil
		}
		m := cur
		cur = nil
		return emit(m)
	}
	for {
		f, err := c.read()
		if err != nil {
			return nil, err
		}
		switch {
		case string(f[0]) == TagMsg && len(f) == 2:
			if err := flush(); err != nil {
				return nil, err
			}
			cur = &Message{}
			if err := json.Unmarshal(f[1], cur); err != nil {
				return nil, fmt.Errorf("a listing frame: %w", err)
			}
		case string(f[0]) == TagRcpts && len(f) == 2 && cur != nil:
			var rs []Recipient
			if err := json.Unmarshal(f[1], &rs); err != nil {
				return nil, fmt.Errorf("a listing frame: %w", err)
			}
			cur.Recipients = append(cur.Recipients, rs...)
		default:
			return f, flush()
		}
	}
}

// List calls emit with each message f selects, as the daemon streams
// them. More than MaxIDs ids are asked for in several requests, in
// order.
func (c *Client) List(f Filter, emit func(*Message) error) error {
	if len(f.IDs) > MaxIDs {
		ids := slices.Clone(f.IDs)
		slices.Sort(ids)
		for len(ids) > 0 {
			n := min(len(ids), MaxIDs)
			g := f
			g.IDs = ids[:n]
			if err := c.List(g, emit); err != nil {
				return err
			}
			ids = ids[n:]
		}
		return nil
	}
	if err := c.send([]byte(TagList), encodeFilter(f)); err != nil {
		return err
	}
	last, err := c.messages(emit)
	if err != nil {
		return err
	}
	if string(last[0]) != TagEnd {
		return fmt.Errorf("the daemon sent a %.20q frame in a listing", last[0])
	}
	return nil
}

// Stat counts what f selects.
func (c *Client) Stat(f Filter) (*Stat, error) {
	if err := c.send([]byte(TagStat), encodeFilter(f)); err != nil {
		return nil, err
	}
	a, err := c.read()
	if err != nil {
		return nil, err
	}
	if string(a[0]) != TagStatRes || len(a) != 2 {
		return nil, fmt.Errorf("the daemon answered stat with %.20q", a[0])
	}
	var st Stat
	return &st, json.Unmarshal(a[1], &st)
}

// Show calls emit with message id, then writes its header, or with body
// the whole message, to w.
func (c *Client) Show(id uint64, body bool, emit func(*Message) error, w io.Writer) error {
	b := "0"
	if body {
		b = "1"
	}
	if err := c.send([]byte(TagShow), []byte(strconv.FormatUint(id, 10)), []byte(b)); err != nil {
		return err
	}
	f, err := c.messages(emit)
	for err == nil && string(f[0]) == TagData && len(f) == 2 {
		if _, err = w.Write(f[1]); err == nil {
			f, err = c.read()
		}
	}
	if err != nil {
		return err
	}
	if string(f[0]) != TagEnd {
		return fmt.Errorf("the daemon sent a %.20q frame in show", f[0])
	}
	return nil
}

// Change applies verb to what f selects (see the package doc), in
// requests of at most MaxIDs ids, and adds up the counts.
func (c *Client) Change(verb string, f Filter, dry bool) (Counts, error) {
	d := "0"
	if dry {
		d = "1"
	}
	total := Counts{DryRun: dry}
	one := func(f Filter) error {
		if err := c.send([]byte(TagChange), []byte(verb), []byte(d), encodeFilter(f)); err != nil {
			return err
		}
		a, err := c.read()
		if err != nil {
			return err
		}
		if string(a[0]) != TagChanged || len(a) != 2 {
			return fmt.Errorf("the daemon answered %s with %.20q", verb, a[0])
		}
		var n Counts
		if err := json.Unmarshal(a[1], &n); err != nil {
			return err
		}
		total.Messages += n.Messages
		total.Recipients += n.Recipients
		return nil
	}
	if f.IDs == nil {
		return total, one(f)
	}
	ids := f.IDs
	for len(ids) > 0 {
		n := min(len(ids), MaxIDs)
		g := f
		g.IDs = ids[:n]
		if err := one(g); err != nil {
			return total, err
		}
		ids = ids[n:]
	}
	return total, nil
}

// Local reads the queue database itself, while the daemon is stopped.
type Local struct {
	DB *store.DB
}

// OpenLocal opens the database at path read-only. A daemon holding it is
// found within a second: the error then wraps store.ErrInUse.
func OpenLocal(path string) (*Local, error) {
	db, err := store.OpenReadOnly(path, time.Second)
	if err != nil {
		return nil, err
	}
	return &Local{DB: db}, nil
}

// List calls emit with each message f selects.
func (l *Local) List(f Filter, emit func(*Message) error) error {
	return List(context.Background(), l.DB, f, time.Now(), emit)
}

// Stat counts what f selects.
func (l *Local) Stat(f Filter) (*Stat, error) {
	return Stats(context.Background(), l.DB, f, time.Now())
}

// Show is Client.Show, from the database.
func (l *Local) Show(id uint64, body bool, emit func(*Message) error, w io.Writer) error {
	return Show(l.DB, id, body, emit, w)
}

// Close closes the database.
func (l *Local) Close() error { return l.DB.Close() }
