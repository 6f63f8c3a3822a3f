package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/route"
)

// Due returns up to limit pending recipients of channel ch whose next attempt
// is at or before now, earliest first, leaving out those for which skip
// returns true (the engine skips the ones it is delivering already).
func (db *DB) Due(ch route.Channel, now time.Time, limit int, skip func(Ref) bool) ([]Job, error) {
	var jobs []Job
	err := db.view(func(tx *bolt.Tx) error {
		jobs = jobs[:0]
		msgs, rcpts := tx.Bucket(bucketMsgs), tx.Bucket(bucketRcpts)
		c := tx.Bucket(bucketDue).Cursor()
		envs := map[MsgID]*Envelope{}
		for k, _ := c.Seek([]byte{byte(ch)}); k != nil && len(jobs) < limit; k, _ = c.Next() {
			kch, next, ref, ok := parseDueKey(k)
			if !ok || kch != ch || next.After(now) {
				break
			}
			if skip != nil && skip(ref) {
				continue
			}
			env := envs[ref.Msg]
			if env == nil {
				v := msgs.Get(msgKey(ref.Msg))
				if v == nil {
					return fmt.Errorf("due index names recipient %v of a message that is not queued", ref)
				}
				var err error
				if env, err = decodeEnvelope(ref.Msg, v); err != nil {
					return err
				}
				envs[ref.Msg] = env
			}
			r, err := dueRecipient(rcpts, ref)
			if err != nil {
				return err
			}
			jobs = append(jobs, Job{
				Ref:       ref,
				Sender:    env.Sender,
				Recipient: r.Recipient,
				Attempts:  r.Attempts,
				Received:  env.Received,
				Size:      env.Size,
			})
		}
		return nil
	})
	return jobs, err
}

// dueRecipient reads the recipient a due index entry names from rcpts;
// one that is not there is an inconsistent index.
func dueRecipient(rcpts *bolt.Bucket, ref Ref) (*RecipientState, error) {
	v := rcpts.Get(rcptKey(ref))
	if v == nil {
		return nil, fmt.Errorf("due index names recipient %v that is not queued", ref)
	}
	return decodeRecipient(ref, v)
}

// NextDue returns the earliest next attempt time among pending recipients of
// channel ch that skip does not leave out, and false if there is none.
func (db *DB) NextDue(ch route.Channel, skip func(Ref) bool) (time.Time, bool, error) {
	var (
		t     time.Time
		found bool
	)
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.Seek([]byte{byte(ch)}); k != nil; k, _ = c.Next() {
			kch, next, ref, ok := parseDueKey(k)
			if !ok || kch != ch {
				return nil
			}
			if skip != nil && skip(ref) {
				continue
			}
			t, found = next, true
			return nil
		}
		return nil
	})
	return t, found, err
}

// duePage bounds the work of one transaction of MakeAllDue.
const duePage = 5000

// MakeAllDue makes every pending recipient due at now: SIGALRM, as
// qmail-send's. It works in pages so that no transaction grows with the
// queue.
func (db *DB) MakeAllDue(ctx context.Context, now time.Time) (int, error) {
	return db.MakeDueAfter(ctx, now, now)
}

// MakeDueAfter makes every pending recipient whose next attempt is after
// after due at now, and returns how many it moved. The engine uses it at
// start for attempt times further ahead than the retry schedule can put
// one: made under a clock that was wrong.
func (db *DB) MakeDueAfter(ctx context.Context, now, after time.Time) (int, error) {
	total := 0
	for _, ch := range []route.Channel{route.Local, route.Remote} {
		for {
			n := 0
			err := db.update(ctx, func(tx *bolt.Tx) error {
				n = 0
				due := tx.Bucket(bucketDue)
				c := due.Cursor()
				// Entries at or before after stay; the first one
				// after it starts the work.
				start := dueKey(ch, after, Ref{^MsgID(0), ^uint32(0)})
				var moved [][]byte
				for k, _ := c.Seek(start); k != nil && len(moved) < duePage; k, _ = c.Next() {
					kch, _, _, ok := parseDueKey(k)
					if !ok || kch != ch {
						break
					}
					moved = append(moved, append([]byte(nil), k...))
				}
				rcpts := tx.Bucket(bucketRcpts)
				for _, k := range moved {
					_, _, ref, _ := parseDueKey(k)
					if err := due.Delete(k); err != nil {
						return err
					}
					r, err := dueRecipient(rcpts, ref)
					if err != nil {
						return err
					}
					r.Next = now
					if err := rcpts.Put(rcptKey(ref), encodeRecipient(r)); err != nil {
						return err
					}
					if err := due.Put(dueKey(ch, now, ref), nil); err != nil {
						return err
					}
				}
				n = len(moved)
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("queue database %s: making recipients due: %w", db.path, err)
			}
			total += n
			if n < duePage {
				break
			}
		}
	}
	return total, nil
}
