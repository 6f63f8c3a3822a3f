package smtp

import (
	"net/netip"
	"sync"
)

// gate counts the sessions under way, in all and per client address, and
// turns away a connection over either limit before anything is read from
// it. It also says when the server is under stress: at 80% of its
// sessions, when idle clients get seconds, not minutes (see conn).
type gate struct {
	maxTotal, maxPerIP int

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
	// watchers are told when stress begins, so that the sessions
	// already waiting shorten their deadlines.
	watchers  map[int]func()
	nextWatch int
}

func newGate(maxTotal, maxPerIP int) *gate {
	return &gate{maxTotal: max(maxTotal, 1), maxPerIP: max(maxPerIP, 1), perIP: map[netip.Addr]int{}, watchers: map[int]func(){}}
}

// clientKey is what the per-address limit counts: an IPv4 address, or
// the /64 of an IPv6 one, since one IPv6 client commonly holds a whole /64.
func clientKey(ip netip.Addr) netip.Addr {
	if ip.Is4() || !ip.IsValid() {
		return ip
	}
	p, _ := ip.Prefix(64)
	return p.Addr()
}

// enter takes a place for a client at ip, which is not counted against the
// per-address limit when exempt. It returns the function that gives the
// place back, or the reply to refuse the client with.
func (g *gate) enter(ip netip.Addr, exempt bool) (release func(), refusal string) {
	ip = clientKey(ip)
	g.mu.Lock()
	if g.total >= g.maxTotal {
		g.mu.Unlock()
		return nil, "421 too many connections, try again later (#4.3.2)\r\n"
	}
	if !exempt && g.perIP[ip] >= g.maxPerIP {
		g.mu.Unlock()
		return nil, "421 too many connections from your address, try again later (#4.3.2)\r\n"
	}
	wasStressed := g.stressedLocked()
	g.total++
	if !exempt {
		g.perIP[ip]++
	}
	var wake []func()
	if !wasStressed && g.stressedLocked() {
		for _, w := range g.watchers {
			wake = append(wake, w)
		}
	}
	g.mu.Unlock()
	for _, w := range wake {
		w()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.total--
			if !exempt {
				if g.perIP[ip]--; g.perIP[ip] <= 0 {
					delete(g.perIP, ip)
				}
			}
		})
	}, ""
}

// stressed reports whether at least 80% of the sessions are in use.
func (g *gate) stressed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stressedLocked()
}

func (g *gate) stressedLocked() bool { return g.total*5 >= g.maxTotal*4 }

// watch calls fn when stress begins, until the returned function is
// called.
func (g *gate) watch(fn func()) (stop func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := g.nextWatch
	g.nextWatch++
	g.watchers[id] = fn
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(g.watchers, id)
	}
}
