package engine

import (
	"context"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver"
	"github.com/gqmail/gqmail/remotedeliver"
	"github.com/gqmail/gqmail/store"
)

// Result is the outcome of one delivery, as internal/outcome says: a nil
// Err is a success with Report its text; otherwise Err says whether the
// failure is temporary (deferred) or permanent (bounced), and its text is
// the report.
type Result struct {
	Report string
	Err    error
	// Forward lists addresses to send a copy to, with NewSender as its
	// envelope sender; the engine queues them with the result.
	Forward   []string
	NewSender string
}

// Text is the result's report: the success text, or the failure's.
func (r Result) Text() string {
	if r.Err != nil {
		return outcome.Text(r.Err)
	}
	return r.Report
}

// Deliverer is a delivery channel. Deliver makes one attempt to deliver
// body to job's recipient and reports how it went; it never returns
// without a result. ctx ends only when the daemon gives up waiting at
// shutdown, and then the result is not recorded. body stays open until
// Deliver returns.
type Deliverer interface {
	Deliver(ctx context.Context, job store.Job, body *store.Body) Result
}

// GroupDeliverer is a channel that can deliver to several recipients of
// one message at one domain in one attempt. DeliverGroup returns one
// result per job, in order.
type GroupDeliverer interface {
	Deliverer
	DeliverGroup(ctx context.Context, jobs []store.Job, body *store.Body) []Result
}

// LocalChannel delivers through the local delivery helper.
type LocalChannel struct {
	Helper *localdeliver.Client
}

// Deliver sends the delivery to the helper and waits for its answer. A
// body held in memory goes inline; a body file goes as a descriptor, so
// that no process on the way holds the message in memory.
func (l *LocalChannel) Deliver(ctx context.Context, job store.Job, body *store.Body) Result {
	req := &localdeliver.Request{Recipient: job.Recipient.Deliver, Sender: job.Sender}
	if b, ok := body.Inline(); ok {
		req.Message = b
	} else {
		req.Rest = body.File()
	}
	resp, err := l.Helper.Deliver(ctx, req)
	if err != nil {
		return Result{Err: outcome.TemporaryErr(err, "Unable to reach the local delivery helper: %v. (#4.3.0)", err)}
	}
	return Result{Report: resp.Report, Err: resp.Err, Forward: resp.Forward, NewSender: resp.NewSender}
}

// RemoteChannel delivers through remotedeliver.
type RemoteChannel struct {
	Deliverer *remotedeliver.Deliverer
}

// Deliver makes one remote attempt.
func (r *RemoteChannel) Deliver(ctx context.Context, job store.Job, body *store.Body) Result {
	report, err := r.Deliverer.Deliver(ctx, job.Sender, job.Recipient.Deliver, body)
	return Result{Report: report, Err: err}
}

// DeliverGroup makes one remote attempt for recipients of one message at
// one domain: one SMTP transaction per host, one result per recipient.
func (r *RemoteChannel) DeliverGroup(ctx context.Context, jobs []store.Job, body *store.Body) []Result {
	rcpts := make([]string, len(jobs))
	for i, j := range jobs {
		rcpts[i] = j.Recipient.Deliver
	}
	res := r.Deliverer.DeliverGroup(ctx, jobs[0].Sender, rcpts, body)
	out := make([]Result, len(res))
	for i, x := range res {
		out[i] = Result{Report: x.Report, Err: x.Err}
	}
	return out
}
