package sendmail

import (
	"context"
	"io"
	"os"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/qmailqueue"
	"github.com/gqmail/gqmail/store"
)

// outgoing is one message on its way to the queue: through the daemon
// or its pickup directory (frontends/submission), or through a
// qmail-queue program. A nil error from commit means the message is on
// disk (or the program took it).
type outgoing struct {
	io.Writer
	commit func(sender string, rcpts []string) (id store.MsgID, pickedUp bool, err error)
	abort  func()
}

// openQueue starts a message: to $QMAILQUEUE's program when it is set, as
// netqmail's qmail_open does, else to the daemon of env's root.
func openQueue(env *Env) (*outgoing, error) {
	if prog := env.Getenv("QMAILQUEUE"); prog != "" {
		return beginProgram(prog)
	}
	return begin(context.Background(), env.paths())
}

// send writes parts and commits the message. After a write error the
// queue still says why it stopped taking the message (a qmail-queue
// program that refused it and exited, say), as qmail's qmail_close reads
// the exit code first; a queue that says nothing did not take it. A read
// error throws the message away.
func (o *outgoing) send(sender string, rcpts []string, parts ...io.Reader) (store.MsgID, bool, error) {
	w := qmailqueue.StickyWriter(o)
	for _, part := range parts {
		if _, err := io.Copy(w, part); err != nil && w.Err() == nil {
			o.abort()
			return 0, false, temporary("unable to read the message: " + err.Error())
		}
	}
	id, pickedUp, err := o.commit(sender, rcpts)
	if err == nil && w.Err() != nil {
		return 0, false, temporary("qq write error or disk full (#4.3.0)")
	}
	return id, pickedUp, err
}

// begin starts a message for the daemon of root p.
func begin(ctx context.Context, p layout.Paths) (*outgoing, error) {
	m, err := submission.Open(ctx, p.Socket, p.Pickup, submission.KindLocal)
	if err != nil {
		return nil, err
	}
	return &outgoing{
		Writer: m,
		commit: func(sender string, rcpts []string) (store.MsgID, bool, error) {
			id, err := m.Commit(ctx, &store.NewMessage{Sender: sender, Recipients: rcpts, Origin: store.Origin{Kind: "local"}})
			return id, m.PickedUp(), err
		},
		abort: m.Abort,
	}, nil
}

// beginProgram starts a submission to a qmail-queue program (QMAILQUEUE,
// as netqmail honours it): see internal/qmailqueue.
func beginProgram(prog string) (*outgoing, error) {
	p, err := qmailqueue.Start([]string{prog}, qmailqueue.Options{Stderr: os.Stderr})
	if err != nil {
		return nil, err
	}
	return &outgoing{
		Writer: p,
		commit: func(sender string, rcpts []string) (store.MsgID, bool, error) {
			return 0, false, p.Commit(sender, rcpts)
		},
		abort: p.Abort,
	}, nil
}
