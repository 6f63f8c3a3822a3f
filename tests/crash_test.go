package tests

import (
	"fmt"
	"net/smtp"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sendTokens sends the messages numbered by next over sessions
// concurrent SMTP sessions until next passes last or stop is set, and
// records each number that got a 250 after the data.
func sendTokens(addr string, sessions int, next *atomic.Int64, last int64, stop *atomic.Bool, acked *sync.Map) {
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			c, err := smtp.Dial(addr)
			if err != nil {
				return
			}
			defer c.Close()
			if c.Hello("crash.test") != nil {
				return
			}
			for !stop.Load() {
				n := next.Add(1)
				if n > last {
					return
				}
				if c.Mail("sender@example.org") != nil || c.Rcpt(fmt.Sprintf("u%d@localhost", n%7)) != nil {
					return
				}
				w, err := c.Data()
				if err != nil {
					return
				}
				fmt.Fprintf(w, "Subject: crash %d\r\nX-Token: %d\r\n\r\nmessage %d\r\n", n, n, n)
				if w.Close() != nil {
					// Killed mid-message: no 250, so no promise.
					return
				}
				acked.Store(n, true)
			}
		})
	}
	wg.Wait()
}

var tokenRE = regexp.MustCompile(`(?m)^X-Token: (\d+)$`)

// deliveredTokens counts each token in the Maildir.
func deliveredTokens(t *testing.T, root string) map[int64]int {
	t.Helper()
	got := map[int64]int{}
	for _, f := range maildirNew(t, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := tokenRE.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no token:\n%s", f, b)
		}
		var n int64
		fmt.Sscan(string(m[1]), &n)
		got[n]++
	}
	return got
}

// Every message that got a 250 is delivered after a kill -9 in the middle
// of accepting and delivering, and a restart.
func TestKillNineLosesNothingAccepted(t *testing.T) {
	const total, sessions = 1000, 20
	root, addr, acct := setupRoot(t, "", nil)
	d := startDaemon(t, root, addr, acct)

	var next atomic.Int64
	var stop atomic.Bool
	var acked sync.Map
	sent := make(chan struct{})
	go func() { sendTokens(addr, sessions, &next, total, &stop, &acked); close(sent) }()

	// Kill once half the messages are accepted and deliveries are under
	// way.
	waitFor(t, "half the messages accepted and some delivered", 60*time.Second, func() bool {
		n := 0
		acked.Range(func(any, any) bool { n++; return true })
		return n >= total/2 && len(maildirNew(t, root)) > 0
	})
	d.kill()
	stop.Store(true)
	<-sent
	before := len(maildirNew(t, root))

	ackedAtKill := 0
	acked.Range(func(any, any) bool { ackedAtKill++; return true })
	t.Logf("at kill -9: %d messages acknowledged, %d delivered", ackedAtKill, before)

	// Restart and send the rest, so that 1000 were sent in all.
	startDaemon(t, root, addr, acct)
	stop.Store(false)
	next.Store(0)
	var rest atomic.Int64
	var missing []int64
	for n := int64(1); n <= total; n++ {
		if _, ok := acked.Load(n); !ok {
			missing = append(missing, n)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			c, err := smtp.Dial(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.Hello("crash.test")
			for {
				i := rest.Add(1) - 1
				if i >= int64(len(missing)) {
					return
				}
				n := missing[i]
				c.Mail("sender@example.org")
				c.Rcpt(fmt.Sprintf("u%d@localhost", n%7))
				w, err := c.Data()
				if err != nil {
					t.Error(err)
					return
				}
				fmt.Fprintf(w, "Subject: crash %d\r\nX-Token: %d\r\n\r\nmessage %d\r\n", n, n, n)
				if err := w.Close(); err != nil {
					t.Errorf("after restart, message %d: %v", n, err)
					return
				}
				mu.Lock()
				acked.Store(n, true)
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var got map[int64]int
	waitFor(t, "every acknowledged message delivered", 120*time.Second, func() bool {
		got = deliveredTokens(t, root)
		for n := int64(1); n <= total; n++ {
			if _, ok := acked.Load(n); ok && got[n] == 0 {
				return false
			}
		}
		return true
	})
	resent := map[int64]bool{}
	for _, n := range missing {
		resent[n] = true
	}
	deliveryDups, acceptDups := 0, 0
	for n, c := range got {
		if n < 1 || n > total {
			t.Errorf("delivered a token that was never sent: %d", n)
		}
		if resent[n] {
			acceptDups += c - 1
		} else {
			deliveryDups += c - 1
		}
	}
	t.Logf("all %d acknowledged messages delivered; delivered twice: %d whose delivery was under way at the kill (written, not yet recorded), %d that were queued but whose 250 the kill cut off, so the client sent them again",
		total, deliveryDups, acceptDups)
}
