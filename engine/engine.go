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
// The schedule is the queue's due index: each pending recipient's next
// attempt time is stored with it, so a restart keeps it, as qmail-send
// keeps it in its channel files' times; SIGALRM (store.MakeAllDue) makes
// everything due now. A recipient the administrator held (store.Hold) is
// out of that index: never tried, so never expired, until released; and
// Bounce fails recipients at the administrator's word, with the same
// bounces as a failed delivery. When its context ends the engine starts
// nothing new and waits for the deliveries under way, for at most
// ShutdownGrace; those still running then are abandoned and stay
// pending.
package engine

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
	"github.com/gqmail/gqmail/store"
)

// Engine schedules deliveries. Set the fields, then call Run once.
type Engine struct {
	DB       *store.DB
	Controls *control.Dir
	Local    Deliverer
	Remote   Deliverer
	Log      *qlog.Logger
	// Now is the clock; time.Now when nil. Tests move it forward instead
	// of sleeping.
	Now func() time.Time
	// ShutdownGrace bounds the wait for deliveries under way when Run's
	// context ends; zero means 30 seconds.
	ShutdownGrace time.Duration
	// GroupRemote lets one remote delivery carry every due recipient of a
	// message at the same domain, when the remote channel is a
	// GroupDeliverer. qmail sends one recipient per transaction; this is
	// off unless qmail.toml turns it on.
	GroupRemote bool
	// Passed, when set, is called after each scheduling pass with the
	// time the pass used and the number of deliveries it started: tests
	// wait for it instead of sleeping, and a pass that started nothing
	// shows that nothing was due.
	Passed func(now time.Time, started int)

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

// maxGroup bounds the recipients of one grouped remote delivery.
const maxGroup = 100

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) limit(ch route.Channel) int {
	if ch == route.Local {
		return e.Controls.ConcurrencyLocal()
	}
	return e.Controls.ConcurrencyRemote()
}

// Run schedules deliveries until ctx ends, then waits for the deliveries
// under way (see ShutdownGrace). It returns early only if the queue
// database fails. Each recipient keeps the next attempt time stored with
// it: a restart neither tries early a host that asked to wait nor delays
// anything already due.
func (e *Engine) Run(ctx context.Context) error {
	e.bouncer = Bouncer{Controls: e.Controls, Now: e.now}
	e.pullInFarRetries(ctx)
	s := newScheduler(e)
	runErr := e.loop(ctx, s)
	s.readLimits()
	s.status(true)
	grace := e.ShutdownGrace
	if grace == 0 {
		grace = 30 * time.Second
	}
	s.drain(grace)
	e.Log.Info("status: exiting")
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		return nil
	}
	return runErr
}

// pullInFarRetries makes due now every recipient whose next attempt is
// further ahead than the retry schedule can put one, even for a message
// at the end of its queue lifetime: such a time was made under a clock
// that was wrong, and would leave the recipient neither tried nor
// bounced until SIGALRM. A failure (a full disk) is only logged.
func (e *Engine) pullInFarRetries(ctx context.Context) {
	now := e.now()
	lifetime := e.Controls.QueueLifetime()
	birth := now.Add(-lifetime)
	longest := NextRetry(route.Remote, birth, now).Sub(now) + time.Hour
	n, err := e.DB.MakeDueAfter(ctx, now, now.Add(longest))
	switch {
	case err != nil:
		e.Log.Warning("unable to pull in retry times beyond %v from now: %v", longest, err)
	case n > 0:
		e.Log.Info("queue: %d recipients had a retry time more than %v ahead, made by a wrong clock; due now", n, longest.Round(time.Second))
	}
}

// loop runs passes until ctx ends or the queue fails: fill, then sleep
// until the next recipient falls due, a message arrives, a delivery ends
// or someone kicks.
func (e *Engine) loop(ctx context.Context, s *scheduler) error {
	for {
		s.readLimits()
		now := e.now()
		started, err := s.fill(now)
		if err != nil {
			return err
		}
		if started > 0 {
			s.status(false)
		}
		if e.Passed != nil {
			e.Passed(now, started)
		}
		wait, err := s.nextWake(now)
		if err != nil {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-e.DB.Accepted():
		case <-e.kicks():
		case f := <-s.done:
			s.reap(f)
			s.status(false)
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (e *Engine) deliverer(ch route.Channel) Deliverer {
	if ch == route.Local {
		return e.Local
	}
	return e.Remote
}

// deliver makes one attempt for jobs, one recipient or (through a
// GroupDeliverer) several recipients of one message at one domain, and
// records each recipient's result.
func (e *Engine) deliver(ctx context.Context, d Deliverer, jobs []store.Job) {
	nums := make([]uint64, len(jobs))
	for i := range jobs {
		nums[i] = e.seq.Add(1)
		e.Log.Starting(nums[i], uint64(jobs[i].Msg), jobs[i].Recipient.Channel.String(), jobs[i].Recipient.Deliver)
		jobs[i].Sender = ExpandVERP(jobs[i].Sender, jobs[i].Recipient.Deliver)
	}
	start := e.now()
	results := make([]Result, len(jobs))
	body, err := e.DB.OpenBody(jobs[0].Msg)
	switch {
	case err != nil:
		for i := range results {
			results[i] = Result{Err: outcome.TemporaryErr(err, "Unable to read message: %v. (#4.3.0)", err)}
		}
	case len(jobs) == 1:
		results[0] = d.Deliver(ctx, jobs[0], body)
	default:
		results = d.(GroupDeliverer).DeliverGroup(ctx, jobs, body)
	}
	if body != nil {
		defer body.Close()
	}
	for i, job := range jobs {
		// After the grace a temporary failure may be the abandonment
		// itself, and says nothing about the delivery: the recipient
		// stays as it was. A success or a permanent failure is real
		// whenever it came, and is recorded, so that it is not done
		// again.
		if ctx.Err() != nil && outcome.Of(results[i].Err) == outcome.Deferred {
			e.Log.Delivery(nums[i], "deferral", "Abandoned at shutdown; the recipient stays in the queue.")
			continue
		}
		e.record(ctx, nums[i], job, results[i], start, body)
	}
}

// record stores the result of delivery n to job's recipient, with the
// forwards and the bounce it makes, and logs it.
func (e *Engine) record(ctx context.Context, n uint64, job store.Job, res Result, start time.Time, body *store.Body) {
	r := store.Result{Ref: job.Ref, Outcome: outcome.Of(res.Err), Text: res.Text()}
	if r.Outcome == outcome.Deferred {
		if Expired(job.Received, start, e.Controls.QueueLifetime()) {
			r.Outcome = outcome.Failed
			r.Text = strings.TrimSuffix(r.Text, "\n") + "\nI'm not going to try again; this message has been in the queue too long.\n"
		} else {
			r.Next = NextRetry(job.Recipient.Channel, job.Received, start)
		}
	}
	kind := r.Outcome.String()
	if len(res.Forward) > 0 && r.Outcome == outcome.Delivered {
		fwd, err := e.forward(job, res, body)
		if err != nil {
			// The delivery happened but its forward cannot be queued:
			// the recipient stays pending and is tried again, at worst
			// delivered twice.
			e.Log.Delivery(n, kind, r.Text)
			e.Log.Alert("unable to queue the forward of delivery %d: %v; will try again", n, err)
			return
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
	if errors.Is(err, store.ErrGone) {
		// The administrator deleted or bounced it meanwhile (qmailctl
		// queue): there is nothing left to record or to try again.
		e.Log.Delivery(n, kind, r.Text)
		e.Log.Info("delivery %d: msg %d was removed from the queue while it was under way; result dropped", n, job.Msg)
		return
	}
	if err != nil {
		e.Log.Delivery(n, kind, r.Text)
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

// forward makes the copy of a delivered message that its .qmail file
// forwards, with the forwarder's Delivered-To line on top, as qmail-local
// does. A body file is copied into a spool of its own, never into memory.
func (e *Engine) forward(job store.Job, res Result, body *store.Body) (*store.NewMessage, error) {
	fwd := &store.NewMessage{Sender: res.NewSender, Origin: store.Origin{Kind: "forward", UID: -1}}
	fwd.Recipients = res.Forward
	dt := mailbox.DTLine(job.Recipient.Deliver)
	if b, ok := body.Inline(); ok {
		fwd.Body = append([]byte(dt), b...)
		return fwd, nil
	}
	sp := e.DB.NewSpool()
	if _, err := io.WriteString(sp, dt); err != nil {
		sp.Discard()
		return nil, err
	}
	if _, err := io.Copy(sp, body.Reader()); err != nil {
		sp.Discard()
		return nil, err
	}
	fwd.Spool = sp
	return fwd, nil
}

// groupJobs puts due jobs of the same message, sender and recipient domain
// together, in the order of their first member, and returns at most limit
// groups of at most maxGroup jobs each.
func groupJobs(jobs []store.Job, limit int) [][]store.Job {
	type key struct {
		msg            store.MsgID
		sender, domain string
	}
	index := map[key]int{}
	var groups [][]store.Job
	for _, j := range jobs {
		k := key{j.Msg, j.Sender, address.Lower(j.Recipient.Deliver[strings.LastIndexByte(j.Recipient.Deliver, '@')+1:])}
		if strings.HasSuffix(j.Sender, address.VERPSuffix) {
			// Each recipient of a VERP message has its own sender.
			k.domain = j.Recipient.Deliver
		}
		if i, ok := index[k]; ok && len(groups[i]) < maxGroup {
			groups[i] = append(groups[i], j)
			continue
		}
		if len(groups) == limit {
			continue
		}
		index[k] = len(groups)
		groups = append(groups, []store.Job{j})
	}
	return groups
}
