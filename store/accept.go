package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/route"
)

// chunkSize is the largest body piece stored under one key. Bodies are cut
// so that one large message does not need one large run of free pages.
const chunkSize = 256 << 10

// Accept queues msg with every recipient pending and due at once. It
// returns after the transaction is on disk; only then may the caller tell
// the sender that the message was accepted. It takes over msg.Spool, if
// any: accepted with the message, or discarded when Accept fails.
//
// A message whose ImportKey is already recorded is not queued again:
// Accept discards it and returns the id the key was recorded with.
func (db *DB) Accept(ctx context.Context, msg *NewMessage) (MsgID, error) {
	p, err := db.prepare([]*NewMessage{msg})
	if err != nil {
		discard(msg)
		return 0, fmt.Errorf("queue database %s: accept: %w", db.path, err)
	}
	now := db.now()
	var (
		id  MsgID
		dup bool
	)
	err = db.update(ctx, func(tx *bolt.Tx) error {
		if id, dup = importedTx(tx, msg.ImportKey); dup {
			return nil
		}
		var err error
		id, err = acceptTx(tx, p[0], now)
		return err
	})
	if err != nil || dup {
		discard(msg)
	}
	if err != nil {
		return 0, fmt.Errorf("queue database %s: accept: %w", db.path, err)
	}
	if dup {
		return id, nil
	}
	accepted(msg)
	db.signalAccepted()
	return id, nil
}

// prepared is a new message made ready for the transaction that queues
// it: its recipients routed, and its spool's file, if any, durable.
type prepared struct {
	msg   *NewMessage
	rcpts []Recipient
}

// prepare routes the recipients of msgs and makes their body files
// durable before the transaction that names them. It is the one place
// where recipients are routed.
func (db *DB) prepare(msgs []*NewMessage) ([]prepared, error) {
	out := make([]prepared, 0, len(msgs))
	for _, m := range msgs {
		rcpts, err := db.route(m)
		if err != nil {
			return nil, err
		}
		if m.Spool != nil {
			if err := m.Spool.prepare(); err != nil {
				return nil, err
			}
		}
		out = append(out, prepared{msg: m, rcpts: rcpts})
	}
	return out, nil
}

// route routes m's recipients with Options.Route and drops every
// recipient after the first that names the same mailbox.
func (db *DB) route(m *NewMessage) ([]Recipient, error) {
	if len(m.Recipients) == 0 {
		return nil, errors.New("message has no recipients")
	}
	if db.router == nil && m.Routes == nil {
		return nil, errors.New("the queue was opened without a router (Options.Route)")
	}
	if m.Routes != nil && len(m.Routes) != len(m.Recipients) {
		return nil, fmt.Errorf("message has %d recipients but %d routes", len(m.Recipients), len(m.Routes))
	}
	seen := make(map[string]bool, len(m.Recipients))
	out := make([]Recipient, 0, len(m.Recipients))
	for i, a := range m.Recipients {
		var r Recipient
		if m.Routes != nil {
			r = Recipient{Address: a, Route: m.Routes[i]}
		} else {
			r = Recipient{Address: a, Route: db.router(a)}
		}
		if r.Channel != route.Local && r.Channel != route.Remote {
			return nil, fmt.Errorf("recipient %q was routed to no channel", a)
		}
		if k := mailboxKey(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// mailboxKey says which recipients are the same mailbox: the domain is
// compared without case, and so is the local part of a local address,
// since qmail delivers user and USER alike.
func mailboxKey(r Recipient) string {
	if r.Channel == route.Local {
		return address.Lower(r.Deliver)
	}
	at := strings.LastIndexByte(r.Deliver, '@')
	return r.Deliver[:at+1] + address.Lower(r.Deliver[at+1:])
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

// acceptTx writes p into tx. It is called again, in a new transaction,
// when the group it was in is retried, so it derives everything from its
// arguments and the transaction.
func acceptTx(tx *bolt.Tx, p prepared, now time.Time) (MsgID, error) {
	msg := p.msg
	msgs := tx.Bucket(bucketMsgs)
	seq, err := msgs.NextSequence()
	if err != nil {
		return 0, err
	}
	id := MsgID(seq)
	received := now
	if !msg.Received.IsZero() {
		received = msg.Received
	}
	env := &Envelope{
		Sender:     msg.Sender,
		Origin:     msg.Origin,
		Received:   received,
		Size:       msg.size(),
		Recipients: len(p.rcpts),
		Open:       len(p.rcpts),
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
	if err := recordImportTx(tx, msg.ImportKey, id); err != nil {
		return 0, err
	}
	rcpts, due := tx.Bucket(bucketRcpts), tx.Bucket(bucketDue)
	for i, r := range p.rcpts {
		ref := Ref{id, uint32(i)}
		st := &RecipientState{Ref: ref, Recipient: r, State: Pending, Next: now}
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
