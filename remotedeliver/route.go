package remotedeliver

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/gqmail/gqmail/internal/outcome"
)

// target is one address to try, in order.
type target struct {
	addr netip.Addr
	port int
	// host is the name the address came from (an MX host, the relay,
	// the domain), for STARTTLS's server name.
	host string
	pref int
}

// noPref marks targets that are not subject to the best-MX check (a route
// from control/smtproutes), as qmail-remote's 300000.
const noPref = 300000

// targets finds the addresses to try for domain: smtproutes, an address
// literal, the MX hosts by preference (equal preferences shuffled), or the
// domain's own addresses; then drops this host and every MX not better
// than it.
func (d *Deliverer) targets(ctx context.Context, domain string) ([]target, error) {
	port := d.port()
	if relay, rport, ok := d.Controls.SMTPRoutes().Lookup(domain); ok && relay != "" {
		if rport != 0 {
			port = rport
		}
		if ip, ok := literal(relay); ok {
			return []target{{addr: ip, port: port, host: relay, pref: noPref}}, nil
		}
		addrs, err := d.Resolver.Addrs(ctx, relay)
		if err != nil || len(addrs) == 0 {
			return nil, dnsFailure(relay, err)
		}
		var out []target
		for _, a := range addrs {
			out = append(out, target{addr: a, port: port, host: relay, pref: noPref})
		}
		return out, nil
	}
	if ip, ok := literal(domain); ok {
		return d.notMe([]target{{addr: ip, port: port, host: domain, pref: 0}})
	}

	mxs, err := d.Resolver.MX(ctx, domain)
	if err != nil {
		return nil, dnsFailure(domain, err)
	}
	if len(mxs) == 0 {
		addrs, err := d.Resolver.Addrs(ctx, domain)
		if err != nil || len(addrs) == 0 {
			return nil, dnsFailure(domain, err)
		}
		var out []target
		for _, a := range addrs {
			out = append(out, target{addr: a, port: port, host: domain, pref: 0})
		}
		return d.notMe(out)
	}
	if len(mxs) == 1 && mxs[0].Mx == "." {
		return nil, outcome.Permanent("Sorry, %s does not accept mail (null MX). (#5.1.10)", domain)
	}
	slices.SortStableFunc(mxs, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
	d.shuffleTies(mxs)
	var (
		out     []target
		tempErr error
	)
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Mx, ".")
		addrs, err := d.Resolver.Addrs(ctx, host)
		var temp *tempDNSError
		if errors.As(err, &temp) {
			tempErr = err
			continue
		}
		for _, a := range addrs {
			out = append(out, target{addr: a, port: port, host: host, pref: int(mx.Preference)})
		}
	}
	if len(out) == 0 {
		if tempErr != nil {
			return nil, outcome.TemporaryErr(tempErr, "Sorry, I couldn't find any host by that name. (#4.1.2)")
		}
		return nil, outcome.Permanent("Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)")
	}
	return d.notMe(out)
}

// shuffleTies puts MX records of equal preference in random order, as
// qmail-remote does to spread the load.
func (d *Deliverer) shuffleTies(mxs []*dns.MX) {
	shuffle := d.Shuffle
	if shuffle == nil {
		shuffle = rand.Shuffle
	}
	for i := 0; i < len(mxs); {
		j := i
		for j < len(mxs) && mxs[j].Preference == mxs[i].Preference {
			j++
		}
		run := mxs[i:j]
		shuffle(len(run), func(a, b int) { run[a], run[b] = run[b], run[a] })
		i = j
	}
}

func dnsFailure(name string, err error) error {
	var temp *tempDNSError
	switch {
	case errors.As(err, &temp):
		return outcome.TemporaryErr(err, "Sorry, I couldn't find any host by that name. (#4.1.2)")
	case errors.Is(err, errNoSuchDomain):
		return outcome.PermanentErr(err, "Sorry, I couldn't find any host named %s. (#5.1.2)", name)
	}
	return outcome.Permanent("Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)")
}

// notMe keeps the targets that are better than this host, as qmail-remote
// does, so that a host listed as a mail exchanger for a domain it does not
// treat as local refuses the mail instead of sending it to itself.
func (d *Deliverer) notMe(ts []target) ([]target, error) {
	me, _ := d.Controls.Me()
	mine := d.localAddrs()
	prefme := noPref
	for _, t := range ts {
		if t.addr.IsUnspecified() || mine[t.addr.Unmap()] || (me != "" && strings.EqualFold(t.host, me)) {
			prefme = min(prefme, t.pref)
		}
	}
	var out []target
	for _, t := range ts {
		if t.pref < prefme {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, outcome.Permanent("Sorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)")
	}
	return out, nil
}

// localAddrs is the set of this host's addresses, made at the first
// delivery from LocalAddrs or, when that is nil, the interfaces.
func (d *Deliverer) localAddrs() map[netip.Addr]bool {
	d.mineOnce.Do(func() {
		list := d.LocalAddrs
		if list == nil {
			list = InterfaceAddrs()
		}
		d.mine = map[netip.Addr]bool{}
		for _, a := range list {
			d.mine[a.Unmap()] = true
		}
	})
	return d.mine
}

// InterfaceAddrs lists the addresses of this host's network interfaces.
func InterfaceAddrs() []netip.Addr {
	var out []netip.Addr
	ifaddrs, _ := net.InterfaceAddrs()
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
