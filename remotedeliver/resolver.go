package remotedeliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks DNS servers for MX, A and AAAA records.
type Resolver struct {
	// Servers are "host:port" addresses, asked in order.
	Servers []string
	// Timeout bounds one question to one server; zero means 5 seconds.
	Timeout time.Duration
}

// NewResolver returns a resolver asking servers, or, when there are none,
// the name servers of /etc/resolv.conf.
func NewResolver(servers []string) (*Resolver, error) {
	if len(servers) > 0 {
		out := make([]string, len(servers))
		for i, s := range servers {
			if _, _, err := net.SplitHostPort(s); err != nil {
				s = net.JoinHostPort(s, "53")
			}
			out[i] = s
		}
		return &Resolver{Servers: out}, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("reading name servers: %w", err)
	}
	r := &Resolver{}
	for _, s := range conf.Servers {
		r.Servers = append(r.Servers, net.JoinHostPort(s, conf.Port))
	}
	if len(r.Servers) == 0 {
		return nil, errors.New("/etc/resolv.conf names no name server")
	}
	return r, nil
}

// errNoSuchDomain is a permanent "the name does not exist".
var errNoSuchDomain = errors.New("no such domain")

// tempDNSError is a failure that may pass: no server answered, or all
// answered SERVFAIL.
type tempDNSError struct{ err error }

func (e *tempDNSError) Error() string { return e.err.Error() }
func (e *tempDNSError) Unwrap() error { return e.err }

func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	var last error = errors.New("no name server")
	for _, server := range r.Servers {
		resp, err := r.exchange(ctx, q, server, "udp", timeout)
		if err == nil && resp.Truncated {
			resp, err = r.exchange(ctx, q, server, "tcp", timeout)
		}
		if err != nil {
			last = fmt.Errorf("%s: %w", server, err)
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
			return resp, nil
		case dns.RcodeNameError:
			return nil, errNoSuchDomain
		default:
			last = fmt.Errorf("%s answered %s", server, dns.RcodeToString[resp.Rcode])
		}
	}
	return nil, &tempDNSError{fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, last)}
}

func (r *Resolver) exchange(ctx context.Context, q *dns.Msg, server, network string, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout}
	resp, _, err := c.ExchangeContext(ctx, q, server)
	return resp, err
}

// MX returns the MX records of name. A name without MX records gives none
// and no error.
func (r *Resolver) MX(ctx context.Context, name string) ([]*dns.MX, error) {
	resp, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []*dns.MX
	for _, rr := range resp.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, mx)
		}
	}
	return out, nil
}

// Addrs returns the IPv4 then IPv6 addresses of name. It fails
// permanently only if both questions say the name does not exist, and
// temporarily if one failed and the other found nothing.
func (r *Resolver) Addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	var errs []error
	nx := 0
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := r.query(ctx, name, qtype)
		if errors.Is(err, errNoSuchDomain) {
			nx++
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range resp.Answer {
			switch a := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					out = append(out, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(a.AAAA); ok {
					out = append(out, ip)
				}
			}
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case nx == 2:
		return nil, errNoSuchDomain
	case len(errs) > 0:
		return nil, errs[0]
	}
	return nil, nil
}

// literal parses "[1.2.3.4]", "[IPv6:::1]" or a bare dotted quad.
func literal(host string) (netip.Addr, bool) {
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		if v6, ok := strings.CutPrefix(h, "IPv6:"); ok {
			h = v6
		}
	}
	ip, err := netip.ParseAddr(h)
	if err != nil || (h == host && !ip.Is4()) {
		return netip.Addr{}, false
	}
	return ip, true
}
