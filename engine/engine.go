// Package engine is the scheduler, qmail-send's part. It takes due
// recipients from the queue (store) by the index of next attempt times,
// runs them through the local and remote channels within
// control/concurrencylocal and control/concurrencyremote (read live),
// applies the retry schedule and control/queuelifetime, and records each
// result, with the forwards and bounces it produces, in one store
// transaction.
//
// # Failure contract
//
// A channel reports success, deferral or failure. A deferral is retried at
// NextRetry; a deferral of a message older than queuelifetime becomes a
// failure, with qmail's "I'm not going to try again" line. When the last
// recipient of a message is done, a message with failed recipients gets
// one bounce (a double bounce to postmaster for the null sender; nothing
// for a failed double bounce). If a result cannot be recorded the
// recipient stays pending and is retried: delivery is at least once.
//
// When it starts, the engine makes everything pending due at once. When
// its context ends it starts nothing new and waits for the deliveries
// under way, for at most ShutdownGrace; those still running then are
// abandoned and stay pending.
package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// Engine schedules deliveries. Set the fields, then call Run once.
type Engine struct {
	DB       *store.DB
	Controls *control.Dir
	Router   *route.Router
	Local    Deliverer
	Remote   Deliverer
	Log      *qlog.Logger
	// Now is the clock; time.Now when nil. Tests move it forward instead
	// of sleeping.
	Now func() time.Time
	// ShutdownGrace bounds the wait for deliveries under way when Run's
	// context ends; zero means 30 seconds.
	ShutdownGrace time.Duration

	seq      atomic.Uint64
	kickOnce sync.Once
	bouncer  Bouncer
	kick     chan struct{}
}

// Kick makes the engine look for due work now, as qmail-send does when
// its trigger is pulled. Tests that move the clock call it.
func (e *Engine) Kick() {
	select {
	case e.kicks() <- struct{}{}:
	default:
	}
}

func (e *Engine) kicks() chan struct{} {
	e.kickOnce.Do(func() { e.kick = make(chan struct{}, 1) })
	return e.kick
}

// maxWait bounds the scheduler's sleep, so that a change of the
// concurrency control files or of the clock is noticed.
const maxWait = 5 * time.Second

// recordRetryPause is how long a delivery whose result could not be
// recorded waits before its recipient may be tried again, as qmail-send
// waits after trouble writing its queue.
const recordRetryPause = 10 * time.Second

type finished struct {
	ch  store.Channel
	ref store.Ref
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) limit(ch store.Channel) int {
	if ch == store.Local {
		return e.Controls.ConcurrencyLocal()
	}
	return e.Controls.ConcurrencyRemote()
}

// Run schedules deliveries until ctx ends, then waits for the deliveries
// under way (see ShutdownGrace). It returns early only if the queue
// database fails.
func (e *Engine) Run(ctx context.Context) error {
	e.bouncer = Bouncer{Controls: e.Controls, Router: e.Router, Now: e.now}
	if n, err := e.DB.MakeAllDue(ctx, e.now()); err != nil {
		return err
	} else if n > 0 {
		e.Log.Info("queue: %d pending recipients made due at start", n)
	}

	deliveryCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	var wg sync.WaitGroup
	done := make(chan finished, 64)
	inflight := map[store.Ref]bool{}
	running := map[store.Channel]int{}
	skip := func(r store.Ref) bool { return inflight[r] }
	channels := []store.Channel{store.Local, store.Remote}
	reap := func(f finished) {
		delete(inflight, f.ref)
		running[f.ch]--
	}
	status := func(exiting bool) {
		e.Log.Status(running[store.Local], e.limit(store.Local), running[store.Remote], e.limit(store.Remote), exiting)
	}

	var runErr error
	for runErr == nil {
		started := false
		for _, ch := range channels {
			free := e.limit(ch) - running[ch]
			if free <= 0 {
				continue
			}
			jobs, err := e.DB.Due(ch, e.now(), free, skip)
			if err != nil {
				runErr = fmt.Errorf("engine: finding due %v deliveries: %w", ch, err)
				break
			}
			for _, job := range jobs {
				inflight[job.Ref] = true
				running[ch]++
				started = true
				d := e.deliverer(ch)
				wg.Go(func() {
					e.deliver(deliveryCtx, d, job)
					done <- finished{ch, job.Ref}
				})
			}
		}
		if runErr != nil {
			break
		}
		if started {
			status(false)
		}

		wait := maxWait
		now := e.now()
		for _, ch := range channels {
			if e.limit(ch)-running[ch] <= 0 {
				continue
			}
			next, ok, err := e.DB.NextDue(ch, skip)
			if err != nil {
				runErr = fmt.Errorf("engine: finding next %v delivery: %w", ch, err)
				break
			}
			if ok {
				wait = min(wait, max(next.Sub(now), 0))
			}
		}
		if runErr != nil {
			break
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			runErr = ctx.Err()
		case <-e.DB.Accepted():
		case <-e.kicks():
		case f := <-done:
			reap(f)
			for drained := false; !drained; {
				select {
				case f := <-done:
					reap(f)
				default:
					drained = true
				}
			}
			status(false)
		case <-timer.C:
		}
		timer.Stop()
	}

	// Stop: start nothing new, let the deliveries under way finish.
	status(true)
	grace := e.ShutdownGrace
	if grace == 0 {
		grace = 30 * time.Second
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for running[store.Local]+running[store.Remote] > 0 {
		select {
		case f := <-done:
			reap(f)
		case <-deadline.C:
			e.Log.Warning("abandoning %d deliveries under way; they stay in the queue", running[store.Local]+running[store.Remote])
			abandon()
			deadline.Reset(time.Hour)
		}
	}
	wg.Wait()
	e.Log.Info("status: exiting")
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		return nil
	}
	return runErr
}

func (e *Engine) deliverer(ch store.Channel) Deliverer {
	if ch == store.Local {
		return e.Local
	}
	return e.Remote
}

// deliver makes one attempt and records it.
func (e *Engine) deliver(ctx context.Context, d Deliverer, job store.Job) {
	n := e.seq.Add(1)
	ch := job.Recipient.Channel
	e.Log.Starting(n, uint64(job.Msg), ch.String(), job.Recipient.Deliver)
	start := e.now()
	job.Sender = ExpandVERP(job.Sender, job.Recipient.Deliver)
	var res Result
	body, err := e.DB.Body(job.Msg)
	if err != nil {
		res = Result{Status: Deferral, Text: fmt.Sprintf("Unable to read message: %v. (#4.3.0)", err)}
	} else {
		res = d.Deliver(ctx, job, body)
	}
	if ctx.Err() != nil {
		e.Log.Delivery(n, "deferral", "Abandoned at shutdown; the recipient stays in the queue.")
		return
	}

	r := store.Result{Ref: job.Ref, Text: res.Text}
	kind := "success"
	switch res.Status {
	case Success:
		r.State = store.Delivered
	case Failure:
		r.State, kind = store.Failed, "failure"
	default:
		if Expired(job.Received, start, e.Controls.QueueLifetime()) {
			r.State, kind = store.Failed, "failure"
			r.Text = strings.TrimSuffix(r.Text, "\n") + "\nI'm not going to try again; this message has been in the queue too long.\n"
		} else {
			r.State, kind = store.Pending, "deferral"
			r.Next = NextRetry(ch, job.Received, start)
		}
	}
	if len(res.Forward) > 0 && r.State == store.Delivered {
		fwd := &store.NewMessage{
			Sender: res.NewSender,
			Origin: store.Origin{Kind: "forward", UID: -1},
			Body:   append([]byte("Delivered-To: "+strings.ReplaceAll(job.Recipient.Deliver, "\n", "_")+"\n"), body...),
		}
		for _, a := range res.Forward {
			fwd.Recipients = append(fwd.Recipients, e.Router.Classify(a))
		}
		r.Enqueue = append(r.Enqueue, fwd)
	}

	var bounced, discarded bool
	finish := func(env *store.Envelope, all []store.RecipientState, body []byte) ([]*store.NewMessage, error) {
		b, disc := e.bouncer.Bounce(env, all, body)
		bounced, discarded = b != nil, disc
		if b == nil {
			return nil, nil
		}
		return []*store.NewMessage{b}, nil
	}
	rec, err := e.DB.Record(context.Background(), r, finish)
	if err != nil {
		e.Log.Delivery(n, kind, res.Text)
		e.Log.Alert("unable to record delivery %d: %v; will try again", n, err)
		select {
		case <-time.After(recordRetryPause):
		case <-ctx.Done():
		}
		return
	}
	e.Log.Delivery(n, kind, r.Text)
	for i, id := range rec.Queued {
		if bounced && i == len(rec.Queued)-1 {
			e.Log.BounceMsg(uint64(job.Msg), uint64(id))
		}
		e.Log.NewMsg(uint64(id))
	}
	if discarded {
		e.Log.Info("triple bounce: discarding bounce/%d", job.Msg)
	}
	if rec.Finished {
		e.Log.EndMsg(uint64(job.Msg))
	}
}
