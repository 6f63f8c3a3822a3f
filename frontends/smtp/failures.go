package smtp

import (
	"net/netip"
	"sync"
	"time"
)

// maxFailureClients bounds the client addresses the failure counter
// remembers, so that a botnet of many addresses cannot grow it without
// end; past it the oldest window is forgotten first.
const maxFailureClients = 100000

// failureCounter counts failed logins per client address (an IPv6 client
// by its /64, as the connection limit counts it) in a fixed window that
// starts at the first failure.
type failureCounter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[netip.Addr]*failures
}

type failures struct {
	n     int
	start time.Time
}

func newFailureCounter(limit int, window time.Duration) *failureCounter {
	return &failureCounter{max: limit, window: window, now: time.Now, m: map[netip.Addr]*failures{}}
}

// reserve counts an attempt from ip as a failure before it is made, and
// returns the count in its window and the window's start; ok is false,
// and nothing counted, when ip has used up its failures. An attempt that
// does not fail is given back with undo.
func (f *failureCounter) reserve(ip netip.Addr) (n int, window time.Time, ok bool) {
	key := clientKey(ip)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	e := f.m[key]
	if e != nil && now.Sub(e.start) >= f.window {
		delete(f.m, key)
		e = nil
	}
	if e == nil {
		if len(f.m) >= maxFailureClients {
			f.evictLocked(now)
		}
		e = &failures{start: now}
		f.m[key] = e
	}
	if e.n >= f.max {
		return e.n, e.start, false
	}
	e.n++
	return e.n, e.start, true
}

// undo gives back an attempt reserve counted in the window that started
// at window; an attempt of a window that has ended gives nothing back to
// the next one.
func (f *failureCounter) undo(ip netip.Addr, window time.Time) {
	key := clientKey(ip)
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.m[key]; e != nil && e.n > 0 && e.start.Equal(window) {
		if e.n--; e.n == 0 {
			delete(f.m, key)
		}
	}
}

// evictLocked forgets the windows that have ended, or, when none has, the
// one that started first.
func (f *failureCounter) evictLocked(now time.Time) {
	var oldest netip.Addr
	var oldestStart time.Time
	for k, e := range f.m {
		if now.Sub(e.start) >= f.window {
			delete(f.m, k)
			continue
		}
		if oldestStart.IsZero() || e.start.Before(oldestStart) {
			oldest, oldestStart = k, e.start
		}
	}
	if len(f.m) >= maxFailureClients {
		delete(f.m, oldest)
	}
}
