package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// script is a Deliverer whose answers are set per recipient; it records
// every attempt.
type script struct {
	mu       sync.Mutex
	answers  map[string][]Result // by recipient, used in turn; the last one repeats
	attempts []attempt
	running  int
	maxSeen  int
	hold     chan struct{} // when set, each delivery waits for a value
	// late lists recipients whose delivery waits this long whatever its
	// context says, then succeeds: a delivery that ends after the grace.
	late map[string]time.Duration
}

type attempt struct {
	rcpt, sender string
	body         string
}

func (s *script) Deliver(ctx context.Context, job store.Job, msg *store.Body) Result {
	body, _ := io.ReadAll(msg.Reader())
	s.mu.Lock()
	s.running++
	s.maxSeen = max(s.maxSeen, s.running)
	s.attempts = append(s.attempts, attempt{job.Recipient.Deliver, job.Sender, string(body)})
	list := s.answers[job.Recipient.Deliver]
	res := Result{Report: "did 1+0+0"}
	if len(list) > 0 {
		res = list[0]
		if len(list) > 1 {
			s.answers[job.Recipient.Deliver] = list[1:]
		}
	}
	hold, late := s.hold, s.late[job.Recipient.Deliver]
	s.mu.Unlock()
	switch {
	case late > 0:
		time.Sleep(late)
		res = Result{Report: "did 1+0+0"}
	case hold != nil:
		select {
		case <-hold:
		case <-ctx.Done():
			// Abandoned: what became of it is not known.
			res = Result{Err: outcome.TemporaryErr(ctx.Err(), "abandoned")}
		}
	}
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	return res
}

func (s *script) tries(rcpt string) []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []attempt
	for _, a := range s.attempts {
		if a.rcpt == rcpt {
			out = append(out, a)
		}
	}
	return out
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type rig struct {
	eng           *Engine
	db            *store.DB
	local, remote *script
	clock         *clock
	log           *bytes.Buffer
	logMu         *sync.Mutex
	cancel        func()
	done          chan error
	// passes are the engine's scheduling passes so far; passAt looks at
	// those from mark on.
	passMu sync.Mutex
	passes []pass
	mark   int
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newRig(t *testing.T, controls map[string]string) *rig {
	t.Helper()
	dir := t.TempDir()
	ctl := map[string]string{"me": "mx.example.org\n", "locals": "localhost\nexample.org\nmx.example.org\n"}
	for k, v := range controls {
		ctl[k] = v
	}
	os.Mkdir(filepath.Join(dir, "control"), 0o755)
	for name, text := range ctl {
		os.WriteFile(filepath.Join(dir, "control", name), []byte(text), 0o644)
	}
	clk := &clock{t: time.Now()}
	c := control.Open(filepath.Join(dir, "control"), func(err error) { t.Log(err) })
	db, err := store.Open(filepath.Join(dir, "queue.db"), store.Options{Now: clk.now, Route: (&route.Router{Controls: c}).Route})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{db: db, local: &script{answers: map[string][]Result{}}, remote: &script{answers: map[string][]Result{}},
		clock: clk, log: &bytes.Buffer{}, logMu: &sync.Mutex{}, done: make(chan error, 1)}
	r.eng = &Engine{
		DB: db, Controls: c,
		Local: r.local, Remote: r.remote,
		Log:           qlog.New(lockedWriter{r.logMu, r.log}, "plain"),
		Now:           r.clock.now,
		ShutdownGrace: time.Second,
		Passed: func(now time.Time, started int) {
			r.passMu.Lock()
			r.passes = append(r.passes, pass{now, started})
			r.passMu.Unlock()
		},
	}
	t.Cleanup(func() { r.stop(); db.Close() })
	return r
}

// pass is one scheduling pass: the time it used and the deliveries it
// started.
type pass struct {
	now     time.Time
	started int
}

// setClock sets the clock and marks the passes made so far as seen.
func (r *rig) setClock(at time.Time) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	r.clock.set(at)
	r.mark = len(r.passes)
}

// markPasses marks the passes made so far as seen.
func (r *rig) markPasses() {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	r.mark = len(r.passes)
}

// passAt waits until the engine has made a scheduling pass at the clock's
// time or later since the mark, and returns how many deliveries the
// passes since the mark started: whatever was due then has been started,
// so zero means nothing was due. It is the event negative checks wait
// for.
func (r *rig) passAt(t *testing.T) int {
	t.Helper()
	at := r.clock.now()
	started := 0
	eventually(t, "a scheduling pass at "+at.Format(time.TimeOnly), func() bool {
		r.eng.Kick()
		r.passMu.Lock()
		defer r.passMu.Unlock()
		seen := false
		started = 0
		for _, p := range r.passes[r.mark:] {
			seen = seen || !p.now.Before(at)
			started += p.started
		}
		return seen
	})
	return started
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.eng.Run(ctx) }()
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

func (r *rig) logText() string { r.logMu.Lock(); defer r.logMu.Unlock(); return r.log.String() }

func (r *rig) queue(t *testing.T, sender, body string, rcpts ...string) store.MsgID {
	t.Helper()
	m := &store.NewMessage{Sender: sender, Body: []byte(body), Origin: store.Origin{Kind: "smtp", UID: -1}}
	for _, a := range rcpts {
		m.Recipients = append(m.Recipients, a)
	}
	id, err := r.db.Accept(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) empty() bool {
	n, _, _ := r.db.Count()
	return n == 0
}

func TestDeferralIsRetriedOnTheSchedule(t *testing.T) {
	r := newRig(t, nil)
	deferred := Result{Err: outcome.Temporary("Unable to chdir to maildir. (#4.2.1)")}
	r.local.answers["u@localhost"] = []Result{deferred, deferred, deferred, {Report: "did 1+0+0"}}
	r.queue(t, "s@example.org", "x\n", "u@localhost")
	r.start()
	eventually(t, "the first attempt", func() bool { return len(r.local.tries("u@localhost")) == 1 })
	eventually(t, "the deferral to be logged", func() bool { return strings.Contains(r.logText(), "deferral: Unable_to_chdir") })

	// qmail-send's local schedule from the message's birth: 100 s,
	// 400 s, 900 s. Each retry comes at its time and not a second before.
	born := r.clock.now()
	for i, at := range []time.Duration{100 * time.Second, 400 * time.Second, 900 * time.Second} {
		r.setClock(born.Add(at - time.Second))
		if n := r.passAt(t); n != 0 {
			t.Fatalf("%d deliveries started %v after birth: retry %d comes at %v", n, at-time.Second, i+1, at)
		}
		if n := len(r.local.tries("u@localhost")); n != i+1 {
			t.Fatalf("%d attempts %v after birth, want %d: retry %d comes at %v", n, at-time.Second, i+1, i+1, at)
		}
		r.setClock(born.Add(at))
		r.passAt(t)
		eventually(t, fmt.Sprintf("retry %d at %v", i+1, at), func() bool { return len(r.local.tries("u@localhost")) == i+2 })
		if i < 2 {
			eventually(t, "the deferral to be recorded", func() bool {
				return strings.Count(r.logText(), "deferral: Unable_to_chdir") == i+2
			})
		}
	}
	eventually(t, "the message to leave the queue", r.empty)
	eventually(t, "the end msg line", func() bool { return strings.Contains(r.logText(), "end msg") })
}

func TestFailureBouncesToTheSenderInQSBMF(t *testing.T) {
	r := newRig(t, nil)
	r.local.answers["gone@localhost"] = []Result{{Err: outcome.Permanent("Sorry, no mailbox here by that name. (#5.1.1)\n")}}
	id := r.queue(t, "sender@example.org", "Subject: hello\n\nbody\n", "gone@localhost", "ok@localhost")
	r.start()
	eventually(t, "the bounce to be delivered", func() bool { return len(r.local.tries("sender@example.org")) == 1 })
	b := r.local.tries("sender@example.org")[0]
	if b.sender != "" {
		t.Errorf("bounce sender %q, want the null sender", b.sender)
	}
	for _, want := range []string{
		"From: MAILER-DAEMON@mx.example.org\n",
		"To: sender@example.org\n",
		"Subject: failure notice\n\n",
		"Hi. This is the qmail-send program at mx.example.org.\n",
		"I'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n",
		"<gone@localhost>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n",
		"--- Below this line is a copy of the message.\n\nReturn-Path: <sender@example.org>\nSubject: hello\n\nbody\n",
	} {
		if !strings.Contains(b.body, want) {
			t.Errorf("bounce lacks %q:\n%s", want, b.body)
		}
	}
	if strings.Contains(b.body, "<ok@localhost>") {
		t.Errorf("bounce names the delivered recipient:\n%s", b.body)
	}
	eventually(t, "the queue to empty", r.empty)
	eventually(t, "the bounce msg line", func() bool { return strings.Contains(r.logText(), "bounce msg "+itoa(id)) })
}

func itoa(id store.MsgID) string { return strconv.FormatUint(uint64(id), 10) }

func TestNullSenderFailureDoubleBouncesAndFailedDoubleBounceIsDiscarded(t *testing.T) {
	r := newRig(t, nil)
	r.local.answers["gone@localhost"] = []Result{{Err: outcome.Permanent("no such user")}}
	r.local.answers["postmaster@mx.example.org"] = []Result{{Err: outcome.Permanent("postmaster is broken")}}
	r.queue(t, "", "x\n", "gone@localhost")
	r.start()
	eventually(t, "the double bounce attempt", func() bool { return len(r.local.tries("postmaster@mx.example.org")) == 1 })
	db := r.local.tries("postmaster@mx.example.org")[0]
	if db.sender != "#@[]" || !strings.Contains(db.body, "I tried to deliver a bounce message to this address, but the bounce bounced!") ||
		!strings.Contains(db.body, "--- Below this line is the original bounce.\n\nReturn-Path: <>\n") {
		t.Fatalf("double bounce from %q:\n%s", db.sender, db.body)
	}
	eventually(t, "the queue to empty", r.empty)
	// The log line follows the commit that emptied the queue.
	eventually(t, "the triple bounce line", func() bool { return strings.Contains(r.logText(), "triple bounce: discarding") })
}

func TestQueueLifetimeTurnsDeferralIntoFailure(t *testing.T) {
	r := newRig(t, map[string]string{"queuelifetime": "3600\n"})
	r.local.answers["slow@localhost"] = []Result{{Err: outcome.Temporary("temporarily broken")}}
	r.queue(t, "sender@example.org", "x\n", "slow@localhost")
	r.start()
	eventually(t, "the first attempt", func() bool { return len(r.local.tries("slow@localhost")) == 1 })
	r.clock.add(2 * time.Hour)
	r.eng.Kick()
	eventually(t, "the bounce", func() bool { return len(r.local.tries("sender@example.org")) == 1 })
	b := r.local.tries("sender@example.org")[0].body
	if !strings.Contains(b, "<slow@localhost>:\ntemporarily broken\nI'm not going to try again; this message has been in the queue too long.\n") {
		t.Fatalf("bounce after the lifetime:\n%s", b)
	}
}

func TestForwardsAreQueuedWithADeliveredToLine(t *testing.T) {
	r := newRig(t, nil)
	r.local.answers["list@localhost"] = []Result{{Report: "did 0+2+0", Forward: []string{"a@localhost", "b@far.example"}, NewSender: "list-owner@localhost"}}
	r.queue(t, "s@example.org", "Subject: to the list\n\nhi\n", "list@localhost")
	r.start()
	eventually(t, "the local forward", func() bool { return len(r.local.tries("a@localhost")) == 1 })
	eventually(t, "the remote forward", func() bool { return len(r.remote.tries("b@far.example")) == 1 })
	a := r.local.tries("a@localhost")[0]
	if a.sender != "list-owner@localhost" || !strings.HasPrefix(a.body, "Delivered-To: list@localhost\nSubject: to the list\n") {
		t.Fatalf("forwarded copy from %q:\n%s", a.sender, a.body)
	}
}

func TestConcurrencyLocalBoundsDeliveries(t *testing.T) {
	r := newRig(t, map[string]string{"concurrencylocal": "3\n"})
	r.local.hold = make(chan struct{})
	for range 10 {
		r.queue(t, "s@example.org", "x\n", "u@localhost")
	}
	r.start()
	eventually(t, "three deliveries under way", func() bool { r.local.mu.Lock(); defer r.local.mu.Unlock(); return r.local.running == 3 })
	// A pass with three places taken starts nothing more.
	r.markPasses()
	if n := r.passAt(t); n != 0 {
		t.Fatalf("a pass with every place taken started %d deliveries", n)
	}
	for range 10 {
		r.local.hold <- struct{}{}
	}
	eventually(t, "all delivered", r.empty)
	if r.local.maxSeen != 3 {
		t.Fatalf("up to %d deliveries at once with concurrencylocal 3", r.local.maxSeen)
	}
}

// concurrencyremote 0 holds remote deliveries, as in qmail: nothing is
// tried and nothing is dropped.
func TestConcurrencyZeroHoldsTheChannel(t *testing.T) {
	r := newRig(t, map[string]string{"concurrencyremote": "0\n"})
	r.queue(t, "s@example.org", "x\n", "x@far.example", "u@localhost")
	r.start()
	eventually(t, "the local recipient", func() bool { return len(r.local.tries("u@localhost")) == 1 })
	r.markPasses()
	if n := r.passAt(t); n != 0 {
		t.Fatalf("a pass with concurrencyremote 0 started %d deliveries", n)
	}
	r.stop()
	if n := len(r.remote.tries("x@far.example")); n != 0 {
		t.Fatalf("%d remote attempts with concurrencyremote 0", n)
	}
	msgs, pending, _ := r.db.Count()
	if msgs != 1 || pending != 1 {
		t.Fatalf("held remote recipient: %d messages, %d pending", msgs, pending)
	}
}

// groupScript is a GroupDeliverer that records the groups it was given.
type groupScript struct {
	script
	groupsMu sync.Mutex
	groups   [][]string
}

func (g *groupScript) DeliverGroup(ctx context.Context, jobs []store.Job, body *store.Body) []Result {
	var rcpts []string
	out := make([]Result, len(jobs))
	for i, j := range jobs {
		rcpts = append(rcpts, j.Recipient.Deliver)
		out[i] = g.Deliver(ctx, j, body)
	}
	g.groupsMu.Lock()
	g.groups = append(g.groups, rcpts)
	g.groupsMu.Unlock()
	return out
}

func TestGroupRemoteSendsOneTransactionPerDomain(t *testing.T) {
	for _, grouping := range []bool{false, true} {
		t.Run(fmt.Sprintf("group_recipients=%v", grouping), func(t *testing.T) {
			r := newRig(t, nil)
			g := &groupScript{script: script{answers: map[string][]Result{}}}
			r.eng.Remote, r.eng.GroupRemote = g, grouping
			r.queue(t, "s@example.org", "x\n", "a@far.example", "b@FAR.example", "c@other.example", "d@far.example")
			r.start()
			eventually(t, "all delivered", r.empty)
			g.groupsMu.Lock()
			defer g.groupsMu.Unlock()
			if !grouping {
				if len(g.groups) != 0 || len(g.attempts) != 4 {
					t.Fatalf("without grouping: groups %v, %d attempts", g.groups, len(g.attempts))
				}
				return
			}
			if len(g.groups) != 1 || strings.Join(g.groups[0], " ") != "a@far.example b@FAR.example d@far.example" || len(g.attempts) != 4 {
				t.Fatalf("groups %v, %d attempts", g.groups, len(g.attempts))
			}
		})
	}
}
