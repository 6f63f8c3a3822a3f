package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
)

// BenchmarkAcceptDeliver measures the queue's share of the
// accept-and-deliver workload (accept a 4 KiB message with one local
// recipient, read its body back, record it delivered) with 20 concurrent
// senders, for the two body layouts the schema could use:
//
//   - bodies=bbolt: the body in the database, written by the accept
//     transaction and deleted by the one that records the delivery (what
//     the store does);
//   - bodies=files: one file per body, created and fsync'd with its
//     directory before the accept transaction commits, unlinked after the
//     delivery is recorded.
//
// Run: go test -run '^$' -bench AcceptDeliver -benchtime 3000x ./store/
func BenchmarkAcceptDeliver(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"), 64)
	for _, layout := range []string{"bbolt", "files"} {
		b.Run("bodies="+layout, func(b *testing.B) {
			dir := b.TempDir()
			db, err := Open(filepath.Join(dir, "queue.db"), Options{Route: testRoute})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			bodies := filepath.Join(dir, "bodies")
			os.Mkdir(bodies, 0o700)
			var seq atomic.Uint64
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.SetParallelism(10)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := acceptDeliverOnce(ctx, db, layout, bodies, body, &seq); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func acceptDeliverOnce(ctx context.Context, db *DB, layout, bodies string, body []byte, seq *atomic.Uint64) error {
	m := &NewMessage{Sender: "a@b", Recipients: []string{"u@localhost"}}
	var file string
	if layout == "bbolt" {
		m.Body = body
	} else {
		file = filepath.Join(bodies, fmt.Sprint(seq.Add(1)))
		if err := writeSynced(file, body); err != nil {
			return err
		}
	}
	id, err := db.Accept(ctx, m)
	if err != nil {
		return err
	}
	if layout == "bbolt" {
		if got, err := db.Body(id); err != nil || len(got) != len(body) {
			return fmt.Errorf("body %d: %d bytes, %v", id, len(got), err)
		}
	} else if got, err := os.ReadFile(file); err != nil || len(got) != len(body) {
		return fmt.Errorf("body %s: %d bytes, %v", file, len(got), err)
	}
	if _, err := db.Record(ctx, Result{Ref: Ref{id, 0}, Outcome: outcome.Delivered, Text: "did 0+0+1/"}, nil); err != nil {
		return err
	}
	if file != "" {
		return os.Remove(file)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
