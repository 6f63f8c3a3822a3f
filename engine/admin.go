package engine

import (
	"context"
	"strings"

	"github.com/gqmail/gqmail/store"
)

// AdminBounceText is the failure report of a recipient the administrator
// bounced (qmailctl queue bounce), as its bounce shows it.
const AdminBounceText = "This message was removed from the queue by the administrator. (#5.0.0)"

// Bounce fails refs now, without an attempt, as the administrator asked
// (qmailctl queue bounce), and bounces them as a failed delivery is
// bounced: the bounce of each message left with no pending recipient is
// made by the engine's Bouncer and queued in the transaction that
// records the failures (store.FailNow), as Record queues it. A recipient
// already on its way is failed too; its delivery's result is then
// dropped (store.ErrGone). Held recipients are failed like the others.
func (e *Engine) Bounce(ctx context.Context, refs []store.Ref) (store.FailedNow, error) {
	b := Bouncer{Controls: e.Controls, Now: e.now}
	discarded := map[store.MsgID]bool{}
	finish := func(env *store.Envelope, all []store.RecipientState, head []byte) ([]*store.NewMessage, error) {
		m, disc := b.Bounce(env, all, head)
		discarded[env.ID] = disc
		if m == nil {
			return nil, nil
		}
		return []*store.NewMessage{m}, nil
	}
	text := func(r store.RecipientState) string {
		if last := strings.TrimSpace(r.LastText); last != "" {
			return AdminBounceText + "\nThe last attempt said: " + last
		}
		return AdminBounceText
	}
	res, err := e.DB.FailNow(ctx, refs, text, finish)
	if err != nil {
		return res, err
	}
	for _, end := range res.Ended {
		if end.Bounce != 0 {
			e.Log.BounceMsg(uint64(end.Msg), uint64(end.Bounce))
			e.Log.NewMsg(uint64(end.Bounce))
		}
		if discarded[end.Msg] {
			e.Log.Info("triple bounce: discarding bounce/%d", end.Msg)
		}
		e.Log.EndMsg(uint64(end.Msg))
	}
	return res, nil
}
