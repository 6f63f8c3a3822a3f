package smtp

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/store"
)

// newStoreFixture is newFixture queueing into a real queue database
// through StoreQueue, as the daemon does, instead of the recorder (which
// holds whole messages in memory itself). It returns the directory the
// store keeps its body files in.
func newStoreFixture(t *testing.T) (*fixture, *store.DB, string) {
	t.Helper()
	dir := t.TempDir()
	var db *store.DB
	f := newFixtureFull(t, basicControls, nil, func(s *Server) {
		var err error
		db, err = store.Open(filepath.Join(dir, "queue.db"), store.Options{Route: s.Router.Route})
		if err != nil {
			t.Fatal(err)
		}
		// Registered before the fixture's own cleanup, so it runs
		// after the server is closed.
		t.Cleanup(func() { db.Close() })
		s.Queue = StoreQueue{DB: db, Log: s.Log}
	}, Role{})
	return f, db, filepath.Join(dir, "bodies")
}

// largestFile is the size of the largest file in dir.
func largestFile(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() > n {
			n = fi.Size()
		}
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A message is written to disk while it arrives, not held until its end:
// before the final dot of a 16 MiB message, its body file under
// queue/bodies/ already holds nearly all of it, and the server's heap has
// grown by a small part of it. Then it is queued from that file.
func TestLargeMessageGoesToDiskWhileItArrives(t *testing.T) {
	const (
		lineLen = 1024                            // bytes a line on the wire, CRLF included
		total   = 16 << 20                        // bytes of data on the wire
		stored  = total / lineLen * (lineLen - 1) // the same with LF line ends
		// Most of the message must be on disk before the dot: all
		// but what the server's buffers (a few dozen KiB) may hold.
		onDisk = stored - 1<<20
		// The heap may grow by a quarter of the message at most; a
		// server holding it would grow by all of it.
		heapBound = total / 4
	)
	f, db, bodies := newStoreFixture(t)
	c, _ := dial(t, f.addr)
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	c.do("HELO client.example\r\n")
	c.do("MAIL FROM:<s@sender.example>\r\n")
	if got := c.do("RCPT TO:<u@example.org>\r\n"); got != "250 ok" {
		t.Fatalf("RCPT: %q", got)
	}
	before := heapInUse()
	if got := c.do("DATA\r\n"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA: %q", got)
	}
	line := append(bytes.Repeat([]byte("x"), lineLen-2), '\r', '\n')
	piece := bytes.Repeat(line, 64) // 64 KiB a write
	// The header takes one line of the total.
	if _, err := c.c.Write(append([]byte("Subject: big\r\n"), line[len("Subject: big\r\n"):]...)); err != nil {
		t.Fatal(err)
	}
	for sent := lineLen; sent < total; sent += len(piece) {
		p := piece
		if total-sent < len(p) {
			p = p[:total-sent]
		}
		if _, err := c.c.Write(p); err != nil {
			t.Fatalf("after %d bytes of data: %v", sent, err)
		}
	}
	// Every byte was handed to the kernel; the server reads what is in
	// flight without waiting for the dot.
	deadline := time.Now().Add(10 * time.Second)
	for largestFile(t, bodies) < onDisk {
		if time.Now().After(deadline) {
			t.Fatalf("before the final dot only %d bytes of a %d byte message are in %s (want at least %d): the message is held in memory, not streamed to disk",
				largestFile(t, bodies), stored, bodies, onDisk)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if grown := int64(heapInUse()) - int64(before); grown > heapBound {
		t.Fatalf("the heap grew by %d bytes while a %d byte message arrived (bound %d): the message is held in memory", grown, total, heapBound)
	}
	if got := c.do(".\r\n"); !strings.HasPrefix(got, "250 ok") {
		t.Fatalf("end of data: %q", got)
	}
	envs, err := db.List(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != 1 || envs[0].BodyFile == "" {
		t.Fatalf("queued %+v, want one message with a body file", envs)
	}
	fi, err := os.Stat(filepath.Join(bodies, envs[0].BodyFile))
	if err != nil {
		t.Fatal(err)
	}
	// The Received line comes first, then the data in stored form.
	if fi.Size() < stored || fi.Size() > stored+512 {
		t.Fatalf("body file of %d bytes, want %d and a Received line", fi.Size(), stored)
	}
}
