package admin

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// TestBuildBenchQueue fills the queue database named by
// $GQMAIL_BENCH_QUEUE with $GQMAIL_BENCH_MESSAGES messages (100,000 by
// default) of 2 KiB, one remote recipient each, deferred by an hour, for
// bench/queue-admin.sh. It is skipped when the variable is unset.
func TestBuildBenchQueue(t *testing.T) {
	path := os.Getenv("GQMAIL_BENCH_QUEUE")
	if path == "" {
		t.Skip("GQMAIL_BENCH_QUEUE is not set: this builds bench/queue-admin.sh's queue")
	}
	n := 100000
	if s := os.Getenv("GQMAIL_BENCH_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(path, store.Options{Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	body := make([]byte, 2048)
	for i := range body {
		body[i] = 'a' + byte(i%26)
		if i%64 == 63 {
			body[i] = '\n'
		}
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id, err := db.Accept(ctx, &store.NewMessage{
					Sender:     fmt.Sprintf("sender%d@example.org", i%1000),
					Recipients: []string{fmt.Sprintf("user%d@dest%d.example", i, i%100)},
					Origin:     store.Origin{Kind: "smtp", RemoteIP: "192.0.2.1", HELO: "bench", UID: -1},
					Body:       fmt.Appendf(append([]byte(nil), fmt.Sprintf("Subject: bench %d\n\n", i)...), "%s", body),
				})
				if err == nil {
					_, err = db.Record(ctx, store.Result{Ref: store.Ref{Msg: id}, Outcome: outcome.Deferred,
						Text: "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", Next: time.Now().Add(time.Hour)}, nil)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d messages queued in %v", n, time.Since(start).Round(time.Millisecond))
}
