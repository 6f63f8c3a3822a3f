package admin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gqmail/gqmail/store"
)

// Queue is what reading the queue needs: *store.DB, held by the daemon
// or opened read-only by qmailctl.
type Queue interface {
	LastID() (store.MsgID, error)
	Entries(after, upTo store.MsgID, limit, maxRcpts int) ([]store.Entry, bool, error)
	Entry(id store.MsgID) (*store.Entry, error)
	OpenBody(id store.MsgID) (*store.Body, error)
}

// selected is a message a filter selected, with the indexes of its
// selected recipients.
type selected struct {
	entry *store.Entry
	rcpts []int
}

// walk calls fn with each page of the messages f selects, in message
// order, until ctx ends. Each page is read in its own transaction, which
// is over when fn runs. Named ids are read one by one instead of
// scanning the queue.
func walk(ctx context.Context, q Queue, f Filter, now time.Time, fn func([]selected) error) error {
	if f.IDs != nil {
		ids := slices.Clone(f.IDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		var page []selected
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := q.Entry(store.MsgID(id))
			if err != nil {
				continue // not (or no longer) queued
			}
			if s, ok := f.pick(e, now, nil); ok {
				page = append(page, s)
			}
			if len(page) == PageMessages {
				if err := fn(page); err != nil {
					return err
				}
				page = nil
			}
		}
		if len(page) > 0 {
			return fn(page)
		}
		return nil
	}
	last, err := q.LastID()
	if err != nil {
		return err
	}
	after := store.MsgID(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, more, err := q.Entries(after, last, PageMessages, pageRecipients)
		if err != nil {
			return err
		}
		var page []selected
		for i := range entries {
			after = entries[i].ID
			if s, ok := f.pick(&entries[i], now, nil); ok {
				page = append(page, s)
			}
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// pick applies f to e.
func (f Filter) pick(e *store.Entry, now time.Time, ids map[uint64]bool) (selected, bool) {
	if !f.matchMessage(&e.Envelope, now, ids) {
		return selected{}, false
	}
	s := selected{entry: e}
	for i := range e.Recipients {
		if f.matchRecipient(&e.Recipients[i]) {
			s.rcpts = append(s.rcpts, i)
		}
	}
	if f.rcptFilter() && len(s.rcpts) == 0 {
		return selected{}, false
	}
	return s, true
}

// List calls emit with each message f selects.
func List(ctx context.Context, q Queue, f Filter, now time.Time, emit func(*Message) error) error {
	return walk(ctx, q, f, now, func(page []selected) error {
		for _, s := range page {
			m := messageOf(s.entry, false)
			if err := emit(&m); err != nil {
				return err
			}
		}
		return nil
	})
}

// Stats counts the messages f selects.
func Stats(ctx context.Context, q Queue, f Filter, now time.Time) (*Stat, error) {
	st := &Stat{
		Recipients: map[string]int{StatePending: 0, StateDeferred: 0, StateHeld: 0, StateDelivered: 0, StateFailed: 0},
		Channels:   map[string]int{"local": 0, "remote": 0},
	}
	var oldest time.Time
	err := walk(ctx, q, f, now, func(page []selected) error {
		for _, s := range page {
			e := s.entry
			st.Messages++
			st.Bytes += e.Size
			if oldest.IsZero() || e.Received.Before(oldest) {
				oldest = e.Received
			}
			for i := range e.Recipients {
				r := &e.Recipients[i]
				state := stateOf(r)
				st.Recipients[state]++
				if r.State == store.Pending {
					st.Channels[channelName(r.Channel)]++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !oldest.IsZero() {
		st.OldestArrival = oldest.Unix()
		st.OldestAge = int64(now.Sub(oldest) / time.Second)
	}
	return st, nil
}

// Show calls emit with message id, with every recipient's text whole,
// then writes its header (or, with body, the whole message) to w.
func Show(q Queue, id uint64, body bool, emit func(*Message) error, w io.Writer) error {
	e, err := q.Entry(store.MsgID(id))
	if err != nil {
		return err
	}
	m := messageOf(e, true)
	if err := emit(&m); err != nil {
		return err
	}
	b, err := q.OpenBody(store.MsgID(id))
	if err != nil {
		return err
	}
	defer b.Close()
	if body {
		_, err = io.Copy(w, b.Reader())
		return err
	}
	return copyHeader(w, b.Reader())
}

// copyHeader copies the header of the message r reads, up to and
// without the empty line that ends it.
func copyHeader(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (len(line) > 0 || err != nil) {
			return nil
		}
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Changer is what changing the queue needs: *store.DB for retry, hold,
// release and delete, and the engine (engine.Engine) for bounce, whose
// bounces are the engine's.
type Changer interface {
	MakeDue(ctx context.Context, refs []store.Ref, now time.Time) (store.Changed, error)
	Hold(ctx context.Context, refs []store.Ref) (store.Changed, error)
	Release(ctx context.Context, refs []store.Ref, now time.Time) (store.Changed, error)
	Remove(ctx context.Context, ids []store.MsgID) (store.Removed, error)
}

// Bouncer fails recipients now and bounces them (engine.Engine).
type Bouncer interface {
	Bounce(ctx context.Context, refs []store.Ref) (store.FailedNow, error)
}

// changeable reports whether verb acts on r.
func changeable(verb string, r *store.RecipientState) bool {
	if r.State != store.Pending {
		return false
	}
	switch verb {
	case VerbRetry, VerbHold:
		return !r.Held
	case VerbRelease:
		return r.Held
	}
	return true // delete, bounce
}

// Change applies verb to what f selects, a page (one write transaction)
// at a time; with dry it only counts. removed is called with each message
// delete removed, for the log.
func Change(ctx context.Context, q Queue, c Changer, b Bouncer, verb string, f Filter, dry bool, now time.Time, removed func(store.MsgID)) (Counts, error) {
	out := Counts{DryRun: dry}
	switch verb {
	case VerbRetry, VerbHold, VerbRelease, VerbDelete, VerbBounce:
	default:
		return out, fmt.Errorf("unknown change %q", verb)
	}
	if f.Empty() {
		return out, fmt.Errorf("%s what? name message ids, ALL, or filters", verb)
	}
	err := walk(ctx, q, f, now, func(page []selected) error {
		var refs []store.Ref
		var ids []store.MsgID
		msgs := 0
		for _, s := range page {
			n := 0
			for _, i := range s.rcpts {
				r := &s.entry.Recipients[i]
				if changeable(verb, r) {
					refs = append(refs, r.Ref)
					n++
				}
			}
			if verb == VerbDelete {
				// A whole message goes, with every recipient it has
				// waiting.
				ids = append(ids, s.entry.ID)
				msgs++
				if dry {
					for i := range s.entry.Recipients {
						if changeable(verb, &s.entry.Recipients[i]) {
							out.Recipients++
						}
					}
				}
				continue
			}
			if n > 0 {
				msgs++
			}
		}
		if dry {
			out.Messages += msgs
			if verb != VerbDelete {
				out.Recipients += len(refs)
			}
			return nil
		}
		switch verb {
		case VerbRetry, VerbHold, VerbRelease:
			if len(refs) == 0 {
				return nil
			}
			var n store.Changed
			var err error
			switch verb {
			case VerbRetry:
				n, err = c.MakeDue(ctx, refs, now)
			case VerbHold:
				n, err = c.Hold(ctx, refs)
			default:
				n, err = c.Release(ctx, refs, now)
			}
			out.Messages += n.Messages
			out.Recipients += n.Recipients
			return err
		case VerbDelete:
			rm, err := c.Remove(ctx, ids)
			out.Messages += len(rm.Messages)
			out.Recipients += rm.Recipients
			for _, id := range rm.Messages {
				if removed != nil {
					removed(id)
				}
			}
			return err
		default:
			if len(refs) == 0 {
				return nil
			}
			if b == nil {
				return fmt.Errorf("bounce needs the running daemon")
			}
			res, err := b.Bounce(ctx, refs)
			out.Messages += res.Messages
			out.Recipients += res.Recipients
			return err
		}
	})
	return out, err
}
