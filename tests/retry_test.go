package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/engine"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/remotedeliver"
	"github.com/gqmail/gqmail/store"
)

// testClock is the time the engine and the queue see; the test moves it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// mailboxes stands in for local delivery: it keeps what is delivered
// locally (the bounces) by recipient.
type mailboxes struct {
	mu  sync.Mutex
	got map[string][]string
}

func (m *mailboxes) Deliver(_ context.Context, job store.Job, msg *store.Body) engine.Result {
	body, _ := io.ReadAll(msg.Reader())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got[job.Recipient.Deliver] = append(m.got[job.Recipient.Deliver], string(body))
	return engine.Result{Report: "did 1+0+0"}
}

func (m *mailboxes) of(rcpt string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got[rcpt]...)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A 4xx from the remote host is retried on qmail-send's schedule (400 s
// after the first attempt), and a message that is still deferred after
// queuelifetime is bounced with the last error. The scheduler and the
// queue run in this process with a clock the test moves; the peers and the
// DNS server are real.
func TestRemoteRetriesOnTheScheduleAndExpires(t *testing.T) {
	port := freePort(t)
	at := func(ip string) string { return fmt.Sprintf("%s:%d", ip, port) }
	soft := startSink(t, at("127.0.0.6"), "-r", "RCPT")
	startSink(t, at("127.0.0.7"), "-r", "RCPT")
	dns := startDNS(t, `
soft.example. MX 10 mx.soft.example.
mx.soft.example. A 127.0.0.6
slow.example. MX 10 mx.slow.example.
mx.slow.example. A 127.0.0.7
`)
	dir := t.TempDir()
	for name, text := range map[string]string{"me": "gqsender.test\n", "locals": "localhost\ngqsender.test\n", "queuelifetime": "3600\n"} {
		write(t, filepath.Join(dir, "control", name), text)
	}
	clock := &testClock{t: time.Now()}
	ctl := control.Open(filepath.Join(dir, "control"), func(err error) { t.Log(err) })
	router := &route.Router{Controls: ctl}
	db, err := store.Open(filepath.Join(dir, "queue.db"), store.Options{Now: clock.now, Route: router.Route})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	resolver, _ := remotedeliver.NewResolver([]string{dns.Addr})
	local := &mailboxes{got: map[string][]string{}}
	// The engine's scheduling passes: the clock time each used and the
	// deliveries it started.
	var passMu sync.Mutex
	var passes []struct {
		now     time.Time
		started int
	}
	log := &lockedBuffer{}
	eng := &engine.Engine{
		DB: db, Controls: ctl, Local: local,
		Remote:        &engine.RemoteChannel{Deliverer: &remotedeliver.Deliverer{Controls: ctl, Resolver: resolver, Port: port, TLS: remotedeliver.TLSPolicy{Mode: "never"}}},
		Log:           qlog.New(log, "plain"),
		Now:           clock.now,
		ShutdownGrace: 5 * time.Second,
		Passed: func(now time.Time, started int) {
			passMu.Lock()
			passes = append(passes, struct {
				now     time.Time
				started int
			}{now, started})
			passMu.Unlock()
		},
	}
	for _, rcpt := range []string{"u@soft.example", "u@slow.example"} {
		m := &store.NewMessage{Sender: "tester@localhost", Body: []byte("Subject: to " + rcpt + "\n\nbody\n"), Recipients: []string{rcpt}}
		if _, err := db.Accept(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	attempts := func(rcpt string) int { return strings.Count(log.String(), "to remote "+rcpt+"\n") }
	waitFor(t, "both first attempts deferred", 20*time.Second, func() bool {
		return strings.Count(log.String(), "deferral: 127.0.0.") == 2
	})
	if !strings.Contains(log.String(), "deferral: 127.0.0.6_does_not_like_recipient./Remote_host_said:_450_4.3.0_Error:_command_failed") {
		t.Fatalf("4xx deferral text:\n%s", log)
	}

	// The host now takes mail; the retry is due 400 s after the first try.
	soft.stop()
	good := startSink(t, at("127.0.0.6"))
	clock.add(399 * time.Second)
	// The event to wait for: a scheduling pass at 399 s, which started
	// whatever was due then.
	due := clock.now()
	started := 0
	waitFor(t, "a scheduling pass at 399 s", 10*time.Second, func() bool {
		eng.Kick()
		passMu.Lock()
		defer passMu.Unlock()
		seen := false
		started = 0
		for _, p := range passes {
			if !p.now.Before(due) {
				seen, started = true, started+p.started
			}
		}
		return seen
	})
	if started != 0 {
		t.Fatalf("%d deliveries started at 399 s; the retry is due at 400 s", started)
	}
	if n := attempts("u@soft.example"); n != 1 {
		t.Fatalf("%d attempts at 399 s; the second is due at 400 s", n)
	}
	clock.add(2 * time.Second)
	eng.Kick()
	waitFor(t, "the retry to be delivered", 20*time.Second, func() bool { return len(containing(good.messages(t), "Subject: to u@soft.example")) == 1 })

	// Past queuelifetime the next deferral is the last: a bounce with the
	// last error.
	clock.add(2 * time.Hour)
	eng.Kick()
	waitFor(t, "the bounce", 20*time.Second, func() bool { return len(local.of("tester@localhost")) == 1 })
	b := local.of("tester@localhost")[0]
	for _, want := range []string{
		"<u@slow.example>:\n127.0.0.7 does not like recipient.\nRemote host said: 450 4.3.0 Error: command failed\nI'm not going to try again; this message has been in the queue too long.\n",
		"Subject: to u@slow.example\n",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("bounce lacks %q:\n%s", want, b)
		}
	}
	if n := attempts("u@slow.example"); n != 3 {
		t.Errorf("%d attempts to the slow host, want 3 (the first, the retry at 400 s, the last one after the lifetime)", n)
	}
}
