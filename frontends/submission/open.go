package submission

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// Message is one message on its way to the queue: through the daemon's
// socket, or, when the daemon cannot be reached or has no room for this
// caller now, into the pickup directory, which the daemon takes in when
// it can. Either way a nil error from Commit means the message is on
// disk. It is an smtp.Draft, so qmaild smtpd queues through it too.
type Message struct {
	w        io.Writer
	commit   func(ctx context.Context, msg *store.NewMessage) (store.MsgID, error)
	abort    func()
	pickedUp bool
}

// Open starts a message of kind (KindLocal, KindSMTP) for the daemon
// listening on socket, with pickupDir as the way in while it cannot take
// it. Errors are *outcome.Error.
func Open(ctx context.Context, socket, pickupDir, kind string) (*Message, error) {
	c := &Client{Path: socket, Kind: kind}
	s, err := c.Begin(ctx)
	if err == nil {
		return &Message{
			w: s,
			commit: func(ctx context.Context, msg *store.NewMessage) (store.MsgID, error) {
				defer c.Close()
				return s.Commit(ctx, msg)
			},
			abort: func() { s.Abort(); c.Close() },
		}, nil
	}
	if !daemonDown(err) && !errors.Is(err, ErrBusy) {
		return nil, err
	}
	w, perr := NewPickup(pickupDir)
	if perr != nil {
		return nil, outcome.TemporaryErr(perr, "The gqmail daemon cannot take the message now (%s), and the pickup directory cannot either: %v. (#4.3.0)", outcome.Text(err), perr)
	}
	return &Message{
		w: w,
		commit: func(_ context.Context, msg *store.NewMessage) (store.MsgID, error) {
			if err := w.Commit(msg.Sender, msg.Recipients); err != nil {
				return 0, outcome.TemporaryErr(err, "Unable to write the message into the pickup directory: %v. (#4.3.0)", err)
			}
			return 0, nil
		},
		abort:    w.Abort,
		pickedUp: true,
	}, nil
}

// daemonDown reports whether err says nobody listens on the socket (as
// opposed to a daemon that answered).
func daemonDown(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// Write adds message bytes.
func (m *Message) Write(p []byte) (int, error) { return m.w.Write(p) }

// Commit queues the message with msg's sender and recipients (and, from
// a trusted uid, its origin; the pickup directory records every message
// as local). The id is 0 for a message left in the pickup directory.
func (m *Message) Commit(ctx context.Context, msg *store.NewMessage) (store.MsgID, error) {
	return m.commit(ctx, msg)
}

// Abort throws the message away.
func (m *Message) Abort() { m.abort() }

// PickedUp reports whether the message goes through the pickup directory.
func (m *Message) PickedUp() bool { return m.pickedUp }
