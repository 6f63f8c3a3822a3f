package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chunkSize is the largest body piece stored under one key. Bodies are cut
// so that one large message does not need one large run of free pages.
const chunkSize = 256 << 10

// Accept queues msg with every recipient pending and due at once. It
// returns after the transaction is on disk; only then may the caller tell
// the sender that the message was accepted. It takes over msg.Spool, if
// any: accepted with the message, or discarded when Accept fails.
func (db *DB) Accept(ctx context.Context, msg *NewMessage) (MsgID, error) {
	if err := checkNew(msg); err != nil {
		discard(msg)
		return 0, err
	}
	if err := prepare([]*NewMessage{msg}); err != nil {
		discard(msg)
		return 0, fmt.Errorf("queue database %s: accept: %w", db.path, err)
	}
	now := db.now()
	var id MsgID
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = acceptTx(tx, msg, now)
		return err
	})
	if err != nil {
		discard(msg)
		return 0, fmt.Errorf("queue database %s: accept: %w", db.path, err)
	}
	accepted(msg)
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

// prepare makes the body files of msgs durable before the transaction
// that names them.
func prepare(msgs []*NewMessage) error {
	for _, m := range msgs {
		if m.Spool != nil {
			if err := m.Spool.prepare(); err != nil {
				return err
			}
		}
	}
	return nil
}

func discard(msgs ...*NewMessage) {
	for _, m := range msgs {
		if m.Spool != nil {
			m.Spool.Discard()
		}
	}
}

func accepted(msgs ...*NewMessage) {
	for _, m := range msgs {
		if m.Spool != nil {
			m.Spool.accepted()
		}
	}
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
		Size:       msg.size(),
		Recipients: len(msg.Recipients),
		Open:       len(msg.Recipients),
	}
	body := msg.Body
	if msg.Spool != nil {
		var inline bool
		if body, inline = msg.Spool.inline(); !inline {
			env.BodyFile = msg.Spool.fileName()
		}
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
	if env.BodyFile != "" {
		return id, nil
	}
	bodies := tx.Bucket(bucketBodies)
	for chunk := uint32(0); chunk == 0 || len(body) > 0; chunk++ {
		n := min(len(body), chunkSize)
		if err := bodies.Put(bodyKey(id, chunk), body[:n]); err != nil {
			return 0, err
		}
		body = body[n:]
	}
	return id, nil
}

// Body returns the whole stored message of id. It reads a body file
// whole: it is for tools and tests; deliveries read through OpenBody.
func (db *DB) Body(id MsgID) ([]byte, error) {
	b, err := db.OpenBody(id)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return io.ReadAll(b.Reader())
}

// OpenBody opens the stored message of id for reading. The caller closes
// it. A body file stays readable through it even after the message leaves
// the queue.
func (db *DB) OpenBody(id MsgID) (*Body, error) {
	var (
		inline []byte
		env    *Envelope
	)
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMsgs).Get(msgKey(id))
		if v == nil {
			return fmt.Errorf("message %d is not in the queue", id)
		}
		var err error
		if env, err = decodeEnvelope(id, v); err != nil {
			return err
		}
		if env.BodyFile == "" {
			inline = readBody(tx, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if env.BodyFile == "" {
		return &Body{inline: inline, size: int64(len(inline))}, nil
	}
	f, err := db.openBodyFile(env.BodyFile)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &Body{file: f, size: env.Size}, nil
}

// readBody reads a body held in the database.
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
