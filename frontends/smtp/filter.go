package smtp

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/gqmail/gqmail/internal/qmailqueue"
)

// Filter runs a program with qmail-queue's interface on each message
// before the message is accepted, as sites put scanners in front of
// qmail-queue: the message (with the Received line) on its descriptor 0,
// the envelope on descriptor 1. Exit 0 accepts the message (gqmail then
// queues it: unlike a QMAILQUEUE program, the filter does not queue);
// every other code is answered as qmail-smtpd answers qmail-queue's (31:
// 554 "mail server permanently rejected message", 71: 451 "mail server
// temporarily rejected message", ...), and nothing is queued.
type Filter struct {
	Argv []string
	// Env is the program's environment; nil gives it PATH alone.
	Env []string
	// Timeout bounds a run; past it the program's process group is
	// killed and the client told 451.
	Timeout time.Duration
}

// readableDraft is a Draft whose bytes can be read back before Commit.
type readableDraft interface {
	Reader() (io.ReadCloser, error)
}

// errNotReadable is a queue that cannot show a filter the message.
var errNotReadable = errors.New("this queue cannot give the message back to a filter")

// run gives the draft's message and the envelope to the program.
func (f *Filter) run(ctx context.Context, draft Draft, sender string, rcpts []string) error {
	rd, ok := draft.(readableDraft)
	if !ok {
		return errNotReadable
	}
	r, err := rd.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	env := f.Env
	if env == nil {
		env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	return qmailqueue.Run(ctx, f.Argv, qmailqueue.Options{Env: env, Timeout: f.Timeout, Dir: "/"}, r, sender, rcpts)
}
