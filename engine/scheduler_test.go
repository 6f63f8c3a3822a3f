package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/route"
)

// fill starts no more deliveries than a channel's limit, and nextWake
// leaves out a channel with no room.
func TestFillKeepsToTheChannelLimits(t *testing.T) {
	r := newRig(t, map[string]string{"concurrencylocal": "2\n"})
	r.local.hold = make(chan struct{})
	for range 5 {
		r.queue(t, "s@example.org", "x\n", "u@localhost")
	}
	r.eng.bouncer = Bouncer{Controls: r.eng.Controls, Now: r.eng.now}
	s := newScheduler(r.eng)
	s.readLimits()
	started, err := s.fill(r.clock.now())
	if err != nil || started != 2 || s.running[route.Local] != 2 || len(s.inflight) != 2 {
		t.Fatalf("fill: started %v, %d running, %d in flight, %v", started, s.running[route.Local], len(s.inflight), err)
	}
	if again, _ := s.fill(r.clock.now()); again != 0 {
		t.Fatal("a second fill started more with the channel full")
	}
	if wait, _ := s.nextWake(r.clock.now()); wait != maxWait {
		t.Fatalf("nextWake with the only busy channel full: %v, want %v", wait, maxWait)
	}
	close(r.local.hold)
	s.drain(5 * time.Second)
	if s.underWay() != 0 || len(s.inflight) != 0 {
		t.Fatalf("after drain: %d under way, %d in flight", s.underWay(), len(s.inflight))
	}
}

// A restart keeps each recipient's next attempt time: a deferred
// recipient is not tried when the engine starts again, only when its
// time comes.
func TestRestartKeepsTheStoredRetryTime(t *testing.T) {
	r := newRig(t, nil)
	r.local.answers["u@localhost"] = []Result{{Err: outcome.Temporary("Unable to chdir to maildir. (#4.2.1)")}, {Report: "did 1+0+0"}}
	r.queue(t, "s@example.org", "x\n", "u@localhost")
	born := r.clock.now()
	r.start()
	eventually(t, "the first attempt's deferral", func() bool { return strings.Contains(r.logText(), "deferral: Unable_to_chdir") })
	r.stop()

	// Started again at 50 s: the retry stays at 100 s.
	r.setClock(born.Add(50 * time.Second))
	r.start()
	if n := r.passAt(t); n != 0 {
		t.Fatalf("the restart started %d deliveries at 50 s; the retry is due at 100 s", n)
	}
	r.setClock(born.Add(100 * time.Second))
	r.passAt(t)
	eventually(t, "the retry at 100 s", func() bool { return len(r.local.tries("u@localhost")) == 2 })
	eventually(t, "the message to leave the queue", r.empty)
}

// At stop, a delivery that ends within the grace is recorded; one that
// does not is abandoned at the grace, and its recipient stays pending;
// one that succeeds after the grace anyway is recorded, not done again.
func TestDrainWaitsForTheGraceThenAbandons(t *testing.T) {
	r := newRig(t, nil)
	r.eng.ShutdownGrace = 300 * time.Millisecond
	r.local.hold = make(chan struct{})
	r.local.late = map[string]time.Duration{"late@localhost": 600 * time.Millisecond}
	r.queue(t, "s@example.org", "x\n", "quick@localhost")
	r.queue(t, "s@example.org", "x\n", "stuck@localhost")
	r.queue(t, "s@example.org", "x\n", "late@localhost")
	r.start()
	eventually(t, "three deliveries under way", func() bool { r.local.mu.Lock(); defer r.local.mu.Unlock(); return r.local.running == 3 })
	start := time.Now()
	r.cancel()
	// Let one finish inside the grace.
	r.local.hold <- struct{}{}
	<-r.done
	r.cancel = nil
	took := time.Since(start)
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Fatalf("Run returned %v after its context ended; the grace is 300ms (and the late delivery 600ms)", took)
	}
	log := r.logText()
	if !strings.Contains(log, "delivery 1: success") && !strings.Contains(log, "delivery 2: success") {
		t.Fatalf("the delivery that ended within the grace was not recorded:\n%s", log)
	}
	if !strings.Contains(log, "abandoning 2 deliveries under way") || strings.Count(log, "Abandoned_at_shutdown") != 1 {
		t.Fatalf("the stuck delivery was not the one abandoned:\n%s", log)
	}
	if strings.Count(log, ": success: did_1+0+0") != 2 {
		t.Fatalf("the delivery that ended within the grace and the late success are not both recorded:\n%s", log)
	}
	msgs, pending, _ := r.db.Count()
	if msgs != 1 || pending != 1 {
		t.Fatalf("after the stop: %d messages, %d pending; want the stuck one kept", msgs, pending)
	}
}

// A retry time further ahead than the schedule can put one (made while
// the clock was wrong) is pulled in at start. (A normal one is kept:
// TestRestartKeepsTheStoredRetryTime.)
func TestStartPullsInRetryTimesNoScheduleMakes(t *testing.T) {
	r := newRig(t, nil)
	r.local.answers["u@localhost"] = []Result{{Err: outcome.Temporary("later")}, {Report: "did 1+0+0"}}
	r.local.answers["v@localhost"] = []Result{{Err: outcome.Temporary("later")}, {Report: "did 1+0+0"}}
	r.queue(t, "s@example.org", "x\n", "u@localhost")
	r.queue(t, "s@example.org", "x\n", "v@localhost")
	born := r.clock.now()
	r.start()
	eventually(t, "both deferrals", func() bool { return strings.Count(r.logText(), "deferral: later") == 2 })
	r.stop()
	// As if the clock had been a year ahead when they were deferred.
	moved, err := r.db.MakeDueAfter(context.Background(), born.AddDate(1, 0, 0), born)
	if err != nil || moved != 2 {
		t.Fatalf("setting the wrong times: %d, %v", moved, err)
	}
	r.setClock(born.Add(50 * time.Second))
	r.start()
	eventually(t, "the far retries to be pulled in", func() bool { return strings.Contains(r.logText(), "2 recipients had a retry time more than") })
	eventually(t, "both delivered", r.empty)
}
