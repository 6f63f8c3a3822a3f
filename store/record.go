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

	"github.com/gqmail/gqmail/internal/outcome"
)

// ErrGone is what Record's error wraps when the recipient is no longer
// pending: the administrator removed its message or failed it (qmailctl
// queue delete, bounce) while the delivery was under way.
var ErrGone = errors.New("no longer pending in the queue")

// Result is the outcome of one delivery attempt of one recipient.
type Result struct {
	Ref
	// Outcome is the attempt's class (internal/outcome): Delivered and
	// Failed end the recipient, Deferred leaves it pending until Next.
	Outcome outcome.Class
	// Text is the delivery's report, kept as the recipient's last text.
	Text string
	// Next is the time of the next attempt after a deferral.
	Next time.Time
	// Enqueue holds messages the delivery produced (forwards), queued in
	// the same transaction that records the result.
	Enqueue []*NewMessage
}

// stateOf is where an attempt's outcome leaves its recipient.
func stateOf(c outcome.Class) (State, bool) {
	switch c {
	case outcome.Delivered:
		return Delivered, true
	case outcome.Deferred:
		return Pending, true
	case outcome.Failed:
		return Failed, true
	}
	return 0, false
}

// Finisher is called inside the transaction that ends the last pending
// recipient of a message, with the final state of every recipient and the
// message's first InlineMax bytes (all of it, unless env.Size is larger).
// The messages it returns (a bounce) are queued in that transaction; they
// carry their body in Body, not in a Spool. It may be called more than
// once for the same message (see committer) and must not have other
// effects.
type Finisher func(env *Envelope, rcpts []RecipientState, head []byte) ([]*NewMessage, error)

// Recorded says what Record did besides storing the result.
type Recorded struct {
	// Finished is set when the message had no pending recipient left and
	// was removed from the queue.
	Finished bool
	// Queued lists the messages queued by the transaction: the result's
	// Enqueue, then what the Finisher returned.
	Queued []MsgID

	// unlink names the body file to remove once the transaction that
	// removed its message is on disk.
	unlink string
}

// Record stores the result of a delivery attempt. finish may be nil when no
// bounce is to be made. It takes over the spools of r.Enqueue, as Accept
// does.
func (db *DB) Record(ctx context.Context, r Result, finish Finisher) (Recorded, error) {
	out, err := db.record(ctx, r, finish)
	if err != nil {
		discard(r.Enqueue...)
		return Recorded{}, err
	}
	accepted(r.Enqueue...)
	if out.unlink != "" {
		// After the commit: a crash before this leaves a file that
		// RemoveOrphanBodies finds, never a record without its file.
		os.Remove(filepath.Join(db.bodies, out.unlink))
	}
	if len(out.Queued) > 0 {
		db.signalAccepted()
	}
	return out, nil
}

func (db *DB) record(ctx context.Context, r Result, finish Finisher) (Recorded, error) {
	if _, ok := stateOf(r.Outcome); !ok {
		return Recorded{}, fmt.Errorf("record %v: invalid outcome %v", r.Ref, r.Outcome)
	}
	enqueue, err := db.prepare(r.Enqueue)
	if err != nil {
		return Recorded{}, fmt.Errorf("queue database %s: record %v: %w", db.path, r.Ref, err)
	}
	now := db.now()
	var out Recorded
	err = db.update(ctx, func(tx *bolt.Tx) error {
		out = Recorded{}
		return db.recordTx(tx, r, enqueue, finish, now, &out)
	})
	if err != nil {
		return Recorded{}, fmt.Errorf("queue database %s: record %v: %w", db.path, r.Ref, err)
	}
	return out, nil
}

func (db *DB) recordTx(tx *bolt.Tx, r Result, enqueue []prepared, finish Finisher, now time.Time, out *Recorded) error {
	rcpts, due := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue)
	v := rcpts.Get(rcptKey(r.Ref))
	if v == nil {
		return fmt.Errorf("recipient %v is not queued: %w", r.Ref, ErrGone)
	}
	st, err := decodeRecipient(r.Ref, v)
	if err != nil {
		return err
	}
	if st.State != Pending {
		return fmt.Errorf("recipient %v is already %v: %w", r.Ref, st.State, ErrGone)
	}
	// A held recipient has no due entry; it may still have been under
	// way when it was held, and its result counts.
	if err := due.Delete(dueKey(st.Channel, st.Next, r.Ref)); err != nil {
		return err
	}
	st.Attempts++
	st.LastText = r.Text
	st.State, _ = stateOf(r.Outcome)
	if st.State == Pending {
		st.Next = r.Next
		if !st.Held {
			if err := due.Put(dueKey(st.Channel, st.Next, r.Ref), nil); err != nil {
				return err
			}
		}
	} else {
		st.Next = time.Time{}
		st.Held = false
	}
	if err := rcpts.Put(rcptKey(r.Ref), encodeRecipient(st)); err != nil {
		return err
	}
	for _, p := range enqueue {
		id, err := acceptTx(tx, p, now)
		if err != nil {
			return err
		}
		out.Queued = append(out.Queued, id)
	}
	if st.State == Pending {
		return nil
	}

	return db.closeTx(tx, r.Msg, 1, finish, now, out)
}

// closeTx counts ended recipients of message id as no longer open and,
// when none is left, finishes the message: the finisher's messages (a
// bounce) are queued and the message is deleted, in tx.
func (db *DB) closeTx(tx *bolt.Tx, id MsgID, ended int, finish Finisher, now time.Time, out *Recorded) error {
	msgs := tx.Bucket(bucketMsgs)
	mv := msgs.Get(msgKey(id))
	if mv == nil {
		return fmt.Errorf("message %d is not queued", id)
	}
	env, err := decodeEnvelope(id, mv)
	if err != nil {
		return err
	}
	env.Open -= ended
	if env.Open > 0 {
		return msgs.Put(msgKey(id), encodeEnvelope(env))
	}

	all, err := recipientsTx(tx, id)
	if err != nil {
		return err
	}
	if finish != nil {
		head, err := db.head(tx, env)
		if err != nil {
			return fmt.Errorf("finishing message %d: %w", id, err)
		}
		more, err := finish(env, all, head)
		if err != nil {
			return fmt.Errorf("finishing message %d: %w", id, err)
		}
		for _, m := range more {
			if m.Spool != nil {
				return fmt.Errorf("finishing message %d: a finisher's message must carry its body in Body", id)
			}
			rcpts, err := db.route(m)
			if err != nil {
				return fmt.Errorf("finishing message %d: %w", id, err)
			}
			qid, err := acceptTx(tx, prepared{msg: m, rcpts: rcpts}, now)
			if err != nil {
				return err
			}
			out.Queued = append(out.Queued, qid)
		}
	}
	if err := deleteMessageTx(tx, id, all); err != nil {
		return err
	}
	out.Finished = true
	out.unlink = env.BodyFile
	return nil
}

// head returns the first InlineMax bytes of a message: all of a body held
// in the database, the start of a body file.
func (db *DB) head(tx *bolt.Tx, env *Envelope) ([]byte, error) {
	if env.BodyFile == "" {
		return readBody(tx, env.ID), nil
	}
	f, err := db.openBodyFile(env.BodyFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := &Body{file: f, size: env.Size}
	return b.Head(InlineMax)
}

func recipientsTx(tx *bolt.Tx, id MsgID) ([]RecipientState, error) {
	var all []RecipientState
	c := tx.Bucket(bucketRcpts).Cursor()
	prefix := msgKey(id)
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		ref, ok := parseRcptKey(k)
		if !ok {
			return nil, fmt.Errorf("message %d: malformed recipient key %x", id, k)
		}
		st, err := decodeRecipient(ref, v)
		if err != nil {
			return nil, err
		}
		all = append(all, *st)
	}
	return all, nil
}

func deleteMessageTx(tx *bolt.Tx, id MsgID, all []RecipientState) error {
	rcpts, due := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue)
	for _, st := range all {
		if st.State == Pending {
			if err := due.Delete(dueKey(st.Channel, st.Next, st.Ref)); err != nil {
				return err
			}
		}
		if err := rcpts.Delete(rcptKey(st.Ref)); err != nil {
			return err
		}
	}
	bodies := tx.Bucket(bucketBodies)
	prefix := msgKey(id)
	var keys [][]byte
	c := bodies.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := bodies.Delete(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMsgs).Delete(msgKey(id))
}

// Recipients returns every recipient of message id with its state.
func (db *DB) Recipients(id MsgID) ([]RecipientState, error) {
	var all []RecipientState
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		all, err = recipientsTx(tx, id)
		return err
	})
	return all, err
}
