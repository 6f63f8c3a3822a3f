package engine

import (
	"context"
	"fmt"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver"
	"github.com/gqmail/gqmail/remotedeliver"
	"github.com/gqmail/gqmail/store"
)

// Status is the class of a delivery result.
type Status int

const (
	Success Status = iota
	// Deferral: temporary failure, retried on the schedule.
	Deferral
	// Failure: permanent; the recipient is bounced.
	Failure
)

// Result is the outcome of one delivery.
type Result struct {
	Status Status
	// Text is the report for the log and, on failure, the bounce.
	Text string
	// Forward lists addresses to send a copy to, with NewSender as its
	// envelope sender; the engine queues them with the result.
	Forward   []string
	NewSender string
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
		return Result{Status: Deferral, Text: fmt.Sprintf("Unable to reach the local delivery helper: %v. (#4.3.0)", err)}
	}
	r := Result{Text: resp.Text, Forward: resp.Forward, NewSender: resp.NewSender}
	switch resp.Status {
	case localdeliver.Success:
		r.Status = Success
	case localdeliver.Failure:
		r.Status = Failure
	default:
		r.Status = Deferral
	}
	return r
}

// RemoteChannel delivers through remotedeliver.
type RemoteChannel struct {
	Deliverer *remotedeliver.Deliverer
}

// Deliver makes one remote attempt.
func (r *RemoteChannel) Deliver(ctx context.Context, job store.Job, body *store.Body) Result {
	report, err := r.Deliverer.Deliver(ctx, job.Sender, job.Recipient.Deliver, body)
	return remoteResult(report, err)
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
		out[i] = remoteResult(x.Report, x.Err)
	}
	return out
}

func remoteResult(report string, err error) Result {
	switch {
	case err == nil:
		return Result{Status: Success, Text: report}
	case outcome.IsPermanent(err):
		return Result{Status: Failure, Text: outcome.Text(err)}
	}
	return Result{Status: Deferral, Text: outcome.Text(err)}
}
