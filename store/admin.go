package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// This file is the queue's administration: what qmailctl queue reads and
// changes through the daemon. Every call is one short transaction over a
// page the caller chose, so that listing or changing a large queue never
// holds a transaction open for long: a long read would stop a writer that
// must grow the file, and a long write would stall every accept.

// ErrInUse is what OpenReadOnly's error wraps when another process (the
// daemon) holds the database.
var ErrInUse = errors.New("queue database is in use")

// OpenReadOnly opens the queue database at path for reading, as qmailctl
// does while the daemon is stopped. It writes nothing, not even a newer
// schema mark, and refuses a database of a newer schema. timeout bounds
// the wait for the file's lock: a running daemon holds it for good, and
// the error then wraps ErrInUse. Calls that write fail.
func OpenReadOnly(path string, timeout time.Duration) (*DB, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("queue database %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		// A link or a FIFO would be followed, or waited on, by bbolt.
		return nil, fmt.Errorf("queue database %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, inUse(path)
		}
		return nil, fmt.Errorf("queue database %s: %w", path, err)
	}
	err = b.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("queue database %s: not a gqmail queue (no schema version)", path)
		}
		_, err := checkVersion(meta, path)
		return err
	})
	if err != nil {
		b.Close()
		return nil, err
	}
	db := &DB{
		path:     path,
		bolt:     b,
		bodies:   filepath.Join(filepath.Dir(path), "bodies"),
		accepted: make(chan struct{}, 1),
		now:      time.Now,
	}
	db.budget.limit = DefaultInlineBudget
	db.commit = newCommitter(b)
	return db, nil
}

// Entry is a queued message with its recipients.
type Entry struct {
	Envelope
	Recipients []RecipientState
}

// LastID returns the highest message ID given out so far. A listing that
// stops there ends even while mail keeps arriving.
func (db *DB) LastID() (MsgID, error) {
	var id MsgID
	err := db.view(func(tx *bolt.Tx) error {
		id = MsgID(tx.Bucket(bucketMsgs).Sequence())
		return nil
	})
	return id, err
}

// Entries returns, in one read transaction, the queued messages with IDs
// after after and at most upTo, in ID order, with their recipients: at
// most limit messages, and no more once maxRcpts recipients have been
// read (a message is never cut). more is false when the page reached
// upTo or the end of the queue.
func (db *DB) Entries(after, upTo MsgID, limit, maxRcpts int) (out []Entry, more bool, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		out, more = out[:0], false
		rc := tx.Bucket(bucketRcpts).Cursor()
		c := tx.Bucket(bucketMsgs).Cursor()
		n := 0
		for k, v := c.Seek(msgKey(after + 1)); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			id := MsgID(beUint64(k))
			if id > upTo {
				return nil
			}
			if len(out) >= limit || n >= maxRcpts {
				more = true
				return nil
			}
			env, err := decodeEnvelope(id, v)
			if err != nil {
				return err
			}
			e := Entry{Envelope: *env}
			prefix := msgKey(id)
			for rk, rv := rc.Seek(prefix); rk != nil && bytes.HasPrefix(rk, prefix); rk, rv = rc.Next() {
				ref, ok := parseRcptKey(rk)
				if !ok {
					return fmt.Errorf("message %d: malformed recipient key %x", id, rk)
				}
				st, err := decodeRecipient(ref, rv)
				if err != nil {
					return err
				}
				e.Recipients = append(e.Recipients, *st)
			}
			n += len(e.Recipients)
			out = append(out, e)
		}
		return nil
	})
	return out, more, err
}

// Entry returns message id with its recipients, read in one transaction.
func (db *DB) Entry(id MsgID) (*Entry, error) {
	var e *Entry
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMsgs).Get(msgKey(id))
		if v == nil {
			return fmt.Errorf("message %d is not in the queue", id)
		}
		env, err := decodeEnvelope(id, v)
		if err != nil {
			return err
		}
		all, err := recipientsTx(tx, id)
		if err != nil {
			return err
		}
		e = &Entry{Envelope: *env, Recipients: all}
		return nil
	})
	return e, err
}

// Changed counts what MakeDue, Hold or Release changed.
type Changed struct {
	Messages, Recipients int
}

// change rewrites, in one write transaction, each of refs that is still
// pending and for which fn returns true; fn changes the recipient (its
// Held flag says whether it keeps a due entry).
func (db *DB) change(ctx context.Context, what string, refs []Ref, fn func(*RecipientState) bool) (Changed, error) {
	var n Changed
	err := db.update(ctx, func(tx *bolt.Tx) error {
		n = Changed{}
		last := MsgID(0)
		rcpts, due := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue)
		return eachPendingTx(tx, refs, func(ref Ref, st *RecipientState) error {
			old := *st
			if !fn(st) {
				return nil
			}
			if !old.Held {
				if err := due.Delete(dueKey(old.Channel, old.Next, ref)); err != nil {
					return err
				}
			}
			if !st.Held {
				if err := due.Put(dueKey(st.Channel, st.Next, ref), nil); err != nil {
					return err
				}
			}
			if err := rcpts.Put(rcptKey(ref), encodeRecipient(st)); err != nil {
				return err
			}
			n.Recipients++
			if ref.Msg != last {
				// refs come grouped by message.
				n.Messages++
				last = ref.Msg
			}
			return nil
		})
	})
	if err != nil {
		return Changed{}, fmt.Errorf("queue database %s: %s: %w", db.path, what, err)
	}
	return n, nil
}

// eachPendingTx calls fn, in tx, with each of refs that is still a
// pending recipient and its state, in the order of refs, and stops at
// fn's first error. A ref no longer queued (finished meanwhile) or no
// longer pending is passed over.
func eachPendingTx(tx *bolt.Tx, refs []Ref, fn func(Ref, *RecipientState) error) error {
	rcpts := tx.Bucket(bucketRcpts)
	for _, ref := range refs {
		v := rcpts.Get(rcptKey(ref))
		if v == nil {
			continue
		}
		st, err := decodeRecipient(ref, v)
		if err != nil {
			return err
		}
		if st.State != Pending {
			continue
		}
		if err := fn(ref, st); err != nil {
			return err
		}
	}
	return nil
}

// updateRemoving runs fn in one write transaction, as update does, for
// the call named what, which may remove messages: fn adds the body files
// of those it removes to *unlink, which is empty each time fn runs, and
// they are unlinked once the transaction has committed. Its error names
// the database and what.
func (db *DB) updateRemoving(ctx context.Context, what string, fn func(tx *bolt.Tx, unlink *[]string) error) error {
	var unlink []string
	err := db.update(ctx, func(tx *bolt.Tx) error {
		unlink = unlink[:0]
		return fn(tx, &unlink)
	})
	if err != nil {
		return fmt.Errorf("queue database %s: %s: %w", db.path, what, err)
	}
	for _, f := range unlink {
		os.Remove(filepath.Join(db.bodies, f))
	}
	return nil
}

// MakeDue makes the pending recipients among refs that are not held due
// at now (qmailctl queue retry; SIGALRM does it for all, MakeAllDue). Refs
// are given grouped by message.
func (db *DB) MakeDue(ctx context.Context, refs []Ref, now time.Time) (Changed, error) {
	return db.change(ctx, "retry", refs, func(st *RecipientState) bool {
		if st.Held {
			return false
		}
		st.Next = now
		return true
	})
}

// Hold puts the pending recipients among refs on hold, as Postfix's
// postsuper -h does: they leave the due index, so the engine never picks
// them, and since a recipient expires only when an attempt of it ends,
// none expires while it is held. A delivery already under way still
// ends and is recorded. Refs are given grouped by message.
func (db *DB) Hold(ctx context.Context, refs []Ref) (Changed, error) {
	return db.change(ctx, "hold", refs, func(st *RecipientState) bool {
		if st.Held {
			return false
		}
		st.Held = true
		return true
	})
}

// Release takes the held recipients among refs off hold, due at now
// (postsuper -H). Their queue lifetime counts from the message's arrival
// again, as Postfix's does: one held past it gets one more attempt. Refs are
// given grouped by message.
func (db *DB) Release(ctx context.Context, refs []Ref, now time.Time) (Changed, error) {
	return db.change(ctx, "release", refs, func(st *RecipientState) bool {
		if !st.Held {
			return false
		}
		st.Held = false
		st.Next = now
		return true
	})
}

// Removed says what Remove did.
type Removed struct {
	// Messages lists the messages removed.
	Messages []MsgID
	// Recipients counts their recipients that were still pending.
	Recipients int
}

// Remove deletes messages from the queue with no bounce (postsuper -d),
// in one write transaction; ids no longer queued are left out. A
// delivery under way for one of them finds, when it is recorded, that
// its recipient is gone (ErrGone).
func (db *DB) Remove(ctx context.Context, ids []MsgID) (Removed, error) {
	var out Removed
	err := db.updateRemoving(ctx, "remove", func(tx *bolt.Tx, unlink *[]string) error {
		out = Removed{}
		msgs := tx.Bucket(bucketMsgs)
		for _, id := range ids {
			v := msgs.Get(msgKey(id))
			if v == nil {
				continue
			}
			env, err := decodeEnvelope(id, v)
			if err != nil {
				return err
			}
			all, err := recipientsTx(tx, id)
			if err != nil {
				return err
			}
			for _, st := range all {
				if st.State == Pending {
					out.Recipients++
				}
			}
			if err := deleteMessageTx(tx, id, all); err != nil {
				return err
			}
			out.Messages = append(out.Messages, id)
			if env.BodyFile != "" {
				*unlink = append(*unlink, env.BodyFile)
			}
		}
		return nil
	})
	if err != nil {
		return Removed{}, err
	}
	return out, nil
}

// Ended is a message that FailNow finished.
type Ended struct {
	Msg MsgID
	// Bounce is the bounce queued for it, 0 for none.
	Bounce MsgID
}

// FailedNow says what FailNow did.
type FailedNow struct {
	// Recipients counts the recipients failed.
	Recipients int
	// Messages counts the messages they belong to.
	Messages int
	// Ended lists the messages that had no pending recipient left, and
	// so were finished and removed, with their bounces.
	Ended []Ended
}

// FailNow fails the pending recipients among refs, held or not, at once,
// without an attempt: each gets text(its state) as its last text. A
// message left with no pending recipient is finished as Record finishes
// one, in the same transaction: finish makes its bounce, which is queued
// there, and the message is removed. A delivery under way for one of
// them finds, when it is recorded, that its recipient is gone (ErrGone).
func (db *DB) FailNow(ctx context.Context, refs []Ref, text func(RecipientState) string, finish Finisher) (FailedNow, error) {
	var out FailedNow
	now := db.now()
	queued := false
	err := db.updateRemoving(ctx, "fail now", func(tx *bolt.Tx, unlink *[]string) error {
		out, queued = FailedNow{}, false
		rcpts, due := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue)
		ended := map[MsgID]int{}
		var order []MsgID
		err := eachPendingTx(tx, refs, func(ref Ref, st *RecipientState) error {
			if !st.Held {
				if err := due.Delete(dueKey(st.Channel, st.Next, ref)); err != nil {
					return err
				}
			}
			st.LastText = text(*st)
			st.State, st.Held, st.Next = Failed, false, time.Time{}
			if err := rcpts.Put(rcptKey(ref), encodeRecipient(st)); err != nil {
				return err
			}
			if _, ok := ended[ref.Msg]; !ok {
				order = append(order, ref.Msg)
			}
			ended[ref.Msg]++
			out.Recipients++
			return nil
		})
		if err != nil {
			return err
		}
		out.Messages = len(order)
		for _, id := range order {
			var rec Recorded
			if err := db.closeTx(tx, id, ended[id], finish, now, &rec); err != nil {
				return err
			}
			if !rec.Finished {
				continue
			}
			e := Ended{Msg: id}
			if len(rec.Queued) > 0 {
				e.Bounce = rec.Queued[len(rec.Queued)-1]
				queued = true
			}
			out.Ended = append(out.Ended, e)
			if rec.unlink != "" {
				*unlink = append(*unlink, rec.unlink)
			}
		}
		return nil
	})
	if err != nil {
		return FailedNow{}, err
	}
	if queued {
		db.signalAccepted()
	}
	return out, nil
}
