package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chunkSize is the largest body piece stored under one key. Bodies are cut
// so that one large message does not need one large run of free pages.
const chunkSize = 256 << 10

// Accept queues msg with every recipient pending and due at once. It
// returns after the transaction is on disk; only then may the caller tell
// the sender that the message was accepted.
func (db *DB) Accept(ctx context.Context, msg *NewMessage) (MsgID, error) {
	if err := checkNew(msg); err != nil {
		return 0, err
	}
	now := db.now()
	var id MsgID
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = acceptTx(tx, msg, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue database %s: accept: %w", db.path, err)
	}
	db.signalAccepted()
	return id, nil
}

func checkNew(msg *NewMessage) error {
	if len(msg.Recipients) == 0 {
		return errors.New("message has no recipients")
	}
	for _, r := range msg.Recipients {
		if r.Channel != Local && r.Channel != Remote {
			return fmt.Errorf("recipient %q has no channel", r.Address)
		}
	}
	return nil
}

// acceptTx writes msg into tx. It is called again, in a new transaction,
// when the group it was in is retried, so it derives everything from its
// arguments and the transaction.
func acceptTx(tx *bolt.Tx, msg *NewMessage, now time.Time) (MsgID, error) {
	msgs := tx.Bucket(bucketMsgs)
	seq, err := msgs.NextSequence()
	if err != nil {
		return 0, err
	}
	id := MsgID(seq)
	env := &Envelope{
		Sender:     msg.Sender,
		Origin:     msg.Origin,
		Received:   now,
		Size:       int64(len(msg.Body)),
		Recipients: len(msg.Recipients),
		Open:       len(msg.Recipients),
	}
	if err := msgs.Put(msgKey(id), encodeEnvelope(env)); err != nil {
		return 0, err
	}
	rcpts, due := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue)
	for i, r := range msg.Recipients {
		ref := Ref{id, uint32(i)}
		st := &RecipientState{Ref: ref, Recipient: r, State: Pending, Next: now}
		if st.Deliver == "" {
			st.Deliver = st.Address
		}
		if err := rcpts.Put(rcptKey(ref), encodeRecipient(st)); err != nil {
			return 0, err
		}
		if err := due.Put(dueKey(r.Channel, now, ref), nil); err != nil {
			return 0, err
		}
	}
	bodies := tx.Bucket(bucketBodies)
	body := msg.Body
	for chunk := uint32(0); chunk == 0 || len(body) > 0; chunk++ {
		n := min(len(body), chunkSize)
		if err := bodies.Put(bodyKey(id, chunk), body[:n]); err != nil {
			return 0, err
		}
		body = body[n:]
	}
	return id, nil
}

// Body returns the whole stored message of id.
func (db *DB) Body(id MsgID) ([]byte, error) {
	var out []byte
	err := db.view(func(tx *bolt.Tx) error {
		env := tx.Bucket(bucketMsgs).Get(msgKey(id))
		if env == nil {
			return fmt.Errorf("message %d is not in the queue", id)
		}
		out = readBody(tx, id)
		return nil
	})
	return out, err
}

func readBody(tx *bolt.Tx, id MsgID) []byte {
	var out []byte
	c := tx.Bucket(bucketBodies).Cursor()
	prefix := msgKey(id)
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out = append(out, v...)
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

// Envelope returns the stored envelope of message id.
func (db *DB) Envelope(id MsgID) (*Envelope, error) {
	var env *Envelope
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMsgs).Get(msgKey(id))
		if v == nil {
			return fmt.Errorf("message %d is not in the queue", id)
		}
		var err error
		env, err = decodeEnvelope(id, v)
		return err
	})
	return env, err
}
