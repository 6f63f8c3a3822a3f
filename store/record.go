package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Result is the outcome of one delivery attempt of one recipient.
type Result struct {
	Ref
	// State is Pending for a deferral, Delivered or Failed for an end.
	State State
	// Text is the delivery's report, kept as the recipient's last text.
	Text string
	// Next is the time of the next attempt after a deferral.
	Next time.Time
	// Enqueue holds messages the delivery produced (forwards), queued in
	// the same transaction that records the result.
	Enqueue []*NewMessage
}

// Finisher is called inside the transaction that ends the last pending
// recipient of a message, with the final state of every recipient. The
// messages it returns (a bounce) are queued in that transaction. It may be
// called more than once for the same message (see committer) and must not
// have other effects.
type Finisher func(env *Envelope, rcpts []RecipientState, body []byte) ([]*NewMessage, error)

// Recorded says what Record did besides storing the result.
type Recorded struct {
	// Finished is set when the message had no pending recipient left and
	// was removed from the queue.
	Finished bool
	// Queued lists the messages queued by the transaction: the result's
	// Enqueue, then what the Finisher returned.
	Queued []MsgID
}

// Record stores the result of a delivery attempt. finish may be nil when no
// bounce is to be made.
func (db *DB) Record(ctx context.Context, r Result, finish Finisher) (Recorded, error) {
	switch r.State {
	case Pending, Delivered, Failed:
	default:
		return Recorded{}, fmt.Errorf("record %v: invalid state %v", r.Ref, r.State)
	}
	for _, m := range r.Enqueue {
		if err := checkNew(m); err != nil {
			return Recorded{}, fmt.Errorf("record %v: %w", r.Ref, err)
		}
	}
	now := db.now()
	var out Recorded
	err := db.update(ctx, func(tx *bolt.Tx) error {
		out = Recorded{}
		return recordTx(tx, r, finish, now, &out)
	})
	if err != nil {
		return Recorded{}, fmt.Errorf("queue database %s: record %v: %w", db.path, r.Ref, err)
	}
	if len(out.Queued) > 0 {
		db.signalAccepted()
	}
	return out, nil
}

func recordTx(tx *bolt.Tx, r Result, finish Finisher, now time.Time, out *Recorded) error {
	rcpts, due, msgs := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue), tx.Bucket(bucketMsgs)
	v := rcpts.Get(rcptKey(r.Ref))
	if v == nil {
		return fmt.Errorf("recipient %v is not queued", r.Ref)
	}
	st, err := decodeRecipient(r.Ref, v)
	if err != nil {
		return err
	}
	if st.State != Pending {
		return fmt.Errorf("recipient %v is already %v", r.Ref, st.State)
	}
	if err := due.Delete(dueKey(st.Channel, st.Next, r.Ref)); err != nil {
		return err
	}
	st.Attempts++
	st.LastText = r.Text
	st.State = r.State
	if r.State == Pending {
		st.Next = r.Next
		if err := due.Put(dueKey(st.Channel, st.Next, r.Ref), nil); err != nil {
			return err
		}
	} else {
		st.Next = time.Time{}
	}
	if err := rcpts.Put(rcptKey(r.Ref), encodeRecipient(st)); err != nil {
		return err
	}
	for _, m := range r.Enqueue {
		id, err := acceptTx(tx, m, now)
		if err != nil {
			return err
		}
		out.Queued = append(out.Queued, id)
	}
	if r.State == Pending {
		return nil
	}

	mv := msgs.Get(msgKey(r.Msg))
	if mv == nil {
		return fmt.Errorf("recipient %v belongs to a message that is not queued", r.Ref)
	}
	env, err := decodeEnvelope(r.Msg, mv)
	if err != nil {
		return err
	}
	env.Open--
	if env.Open > 0 {
		return msgs.Put(msgKey(r.Msg), encodeEnvelope(env))
	}

	all, err := recipientsTx(tx, r.Msg)
	if err != nil {
		return err
	}
	if finish != nil {
		more, err := finish(env, all, readBody(tx, r.Msg))
		if err != nil {
			return fmt.Errorf("finishing message %d: %w", r.Msg, err)
		}
		for _, m := range more {
			if err := checkNew(m); err != nil {
				return fmt.Errorf("finishing message %d: %w", r.Msg, err)
			}
			id, err := acceptTx(tx, m, now)
			if err != nil {
				return err
			}
			out.Queued = append(out.Queued, id)
		}
	}
	if err := deleteMessageTx(tx, r.Msg, all); err != nil {
		return err
	}
	out.Finished = true
	return nil
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
