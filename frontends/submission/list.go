package submission

import (
	"context"
	"fmt"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/store"
)

// Queued is one message of a listing.
type Queued struct {
	ID         store.MsgID
	Received   time.Time
	Size       int64
	Sender     string
	Recipients []QueuedRecipient
}

// QueuedRecipient is one recipient of a listed message.
type QueuedRecipient struct {
	Address, Channel, State string
	Attempts                int
	Next                    time.Time
	LastText                string
}

// List asks the daemon at path for the queue.
func List(ctx context.Context, path string) ([]Queued, error) {
	c, r, w, err := dial(ctx, path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if err := frame.Write(w, []byte(TagList)); err != nil {
		return nil, err
	}
	var out []Queued
	for {
		f, err := frame.ReadLimit(r, MaxFrame)
		if err != nil {
			return nil, fmt.Errorf("reading the listing: %w", err)
		}
		switch {
		case len(f) == 1 && string(f[0]) == "end":
			return out, nil
		case len(f) == 5 && string(f[0]) == "msg":
			id, _ := frame.GetU64(f[1])
			at, _ := frame.GetU64(f[2])
			size, _ := frame.GetU64(f[3])
			out = append(out, Queued{ID: store.MsgID(id), Received: time.Unix(int64(at), 0), Size: int64(size), Sender: string(f[4])})
		case len(f) == 7 && string(f[0]) == "rcpt" && len(out) > 0:
			n, _ := frame.GetU64(f[4])
			next, _ := frame.GetU64(f[5])
			q := &out[len(out)-1]
			rc := QueuedRecipient{Address: string(f[1]), Channel: string(f[2]), State: string(f[3]), Attempts: int(n), LastText: string(f[6])}
			if next != 0 {
				rc.Next = time.Unix(int64(next), 0)
			}
			q.Recipients = append(q.Recipients, rc)
		default:
			return nil, fmt.Errorf("the daemon sent a listing frame I do not know: %q", f)
		}
	}
}
