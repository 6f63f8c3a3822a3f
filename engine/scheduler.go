package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// scheduler is Run's state between passes: which recipients are being
// delivered, how many deliveries each channel has under way, and the
// channels' limits for the current pass. Run drives it in named steps:
//
//   - fill starts a delivery for each due recipient while its channel has
//     room (concurrencylocal, concurrencyremote);
//   - nextWake says how long Run may sleep before a pending recipient of
//     a channel with room falls due;
//   - reap takes the end of deliveries, which gives their places back;
//   - drain, when Run stops, waits for the deliveries under way.
//
// The due index is the schedule: each recipient's next attempt time is
// stored with it, so a restart keeps it.
type scheduler struct {
	e *Engine
	// ctx is the deliveries' context; drain ends it to abandon them.
	ctx     context.Context
	abandon context.CancelFunc

	inflight map[store.Ref]bool
	running  map[route.Channel]int
	limits   map[route.Channel]int
	done     chan finished
	wg       sync.WaitGroup
}

// finished is the end of one delivery.
type finished struct {
	ch   route.Channel
	refs []store.Ref
}

// channels are the delivery channels, in the order fill serves them.
func channels() [2]route.Channel { return [2]route.Channel{route.Local, route.Remote} }

func newScheduler(e *Engine) *scheduler {
	ctx, abandon := context.WithCancel(context.Background())
	return &scheduler{
		e: e, ctx: ctx, abandon: abandon,
		inflight: map[store.Ref]bool{},
		running:  map[route.Channel]int{},
		limits:   map[route.Channel]int{},
		done:     make(chan finished, 64),
	}
}

func (s *scheduler) skip(r store.Ref) bool { return s.inflight[r] }

// readLimits reads the channels' concurrency, once per pass: each read
// stats a control file.
func (s *scheduler) readLimits() {
	for _, ch := range channels() {
		s.limits[ch] = s.e.limit(ch)
	}
}

// fill starts deliveries of the recipients due at now while their
// channels have room, and returns how many it started.
func (s *scheduler) fill(now time.Time) (int, error) {
	started := 0
	for _, ch := range channels() {
		free := s.limits[ch] - s.running[ch]
		if free <= 0 {
			continue
		}
		d := s.e.deliverer(ch)
		_, canGroup := d.(GroupDeliverer)
		canGroup = canGroup && ch == route.Remote && s.e.GroupRemote
		fetch := free
		if canGroup {
			fetch = free + maxGroup
		}
		jobs, err := s.e.DB.Due(ch, now, fetch, s.skip)
		if err != nil {
			return started, fmt.Errorf("engine: finding due %v deliveries: %w", ch, err)
		}
		var groups [][]store.Job
		if canGroup {
			groups = groupJobs(jobs, free)
		} else {
			for _, j := range jobs {
				groups = append(groups, []store.Job{j})
			}
		}
		for _, group := range groups {
			s.start(ch, d, group)
			started++
		}
	}
	return started, nil
}

// start runs one delivery of group in a goroutine of its own.
func (s *scheduler) start(ch route.Channel, d Deliverer, group []store.Job) {
	refs := make([]store.Ref, len(group))
	for i, j := range group {
		s.inflight[j.Ref] = true
		refs[i] = j.Ref
	}
	s.running[ch]++
	s.wg.Go(func() {
		s.e.deliver(s.ctx, d, group)
		s.done <- finished{ch, refs}
	})
}

// nextWake returns how long to wait, from now, before a pending
// recipient of a channel with room falls due; at most maxWait, so that a
// change of the concurrency files or of the clock is noticed.
func (s *scheduler) nextWake(now time.Time) (time.Duration, error) {
	wait := maxWait
	for _, ch := range channels() {
		if s.limits[ch]-s.running[ch] <= 0 {
			continue
		}
		next, ok, err := s.e.DB.NextDue(ch, s.skip)
		if err != nil {
			return 0, fmt.Errorf("engine: finding next %v delivery: %w", ch, err)
		}
		if ok {
			wait = min(wait, max(next.Sub(now), 0))
		}
	}
	return wait, nil
}

// reap takes the end of f, and of every other delivery that has ended
// since, giving their places back.
func (s *scheduler) reap(f finished) {
	for {
		for _, r := range f.refs {
			delete(s.inflight, r)
		}
		s.running[f.ch]--
		select {
		case f = <-s.done:
		default:
			return
		}
	}
}

// underWay is the number of deliveries running.
func (s *scheduler) underWay() int { return s.running[route.Local] + s.running[route.Remote] }

// drain waits for the deliveries under way. After grace it abandons those
// still running: their context ends, their results are not recorded, and
// their recipients stay pending. It returns once every one has returned.
func (s *scheduler) drain(grace time.Duration) {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for s.underWay() > 0 {
		select {
		case f := <-s.done:
			s.reap(f)
		case <-deadline.C:
			s.e.Log.Warning("abandoning %d deliveries under way; they stay in the queue", s.underWay())
			s.abandon()
			deadline.Reset(time.Hour)
		}
	}
	s.wg.Wait()
	s.abandon()
}

// status logs qmail-send's status line.
func (s *scheduler) status(exiting bool) {
	s.e.Log.Status(s.running[route.Local], s.limits[route.Local], s.running[route.Remote], s.limits[route.Remote], exiting)
}
