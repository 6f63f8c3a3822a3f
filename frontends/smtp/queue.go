package smtp

import (
	"context"
	"io"
	"os"

	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/store"
)

// StoreQueue queues into the store the daemon holds: each message is
// written into a store.Spool as it arrives, and logged once queued.
type StoreQueue struct {
	DB  *store.DB
	Log *qlog.Logger
}

// Begin starts a message.
func (q StoreQueue) Begin(context.Context) (Draft, error) {
	return &spoolDraft{q: q, sp: q.DB.NewSpool()}, nil
}

type spoolDraft struct {
	q  StoreQueue
	sp *store.Spool
}

func (d *spoolDraft) Write(p []byte) (int, error) { return d.sp.Write(p) }

func (d *spoolDraft) Commit(ctx context.Context, msg *store.NewMessage) (store.MsgID, error) {
	msg.Body, msg.Spool = nil, d.sp
	size := d.sp.Size()
	id, err := d.q.DB.Accept(ctx, msg)
	if err == nil {
		d.q.Log.Queued(uint64(id), size, msg.Sender, os.Getuid())
	}
	return id, err
}

func (d *spoolDraft) Abort() { d.sp.Discard() }

func (d *spoolDraft) Reader() (io.ReadCloser, error) { return d.sp.Reader() }
