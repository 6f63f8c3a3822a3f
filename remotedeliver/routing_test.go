package remotedeliver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// reverse is a Shuffle that turns a run of equal preferences around.
func reverse(n int, swap func(i, j int)) {
	for i := 0; i < n/2; i++ {
		swap(i, n-1-i)
	}
}

// keep is a Shuffle that leaves DNS order alone.
func keep(int, func(i, j int)) {}

const body = "Subject: test\n\nhello\n"

func TestRouting(t *testing.T) {
	// 127.0.0.9 and 127.0.0.10 have nothing listening: dead hosts. The
	// higher preference comes first in the zone so that only sorting
	// puts the right one first.
	dns := startDNS(t, `
pref.example. MX 20 mx2.pref.example.
pref.example. MX 10 mx1.pref.example.
mx1.pref.example. A 127.0.0.3
mx2.pref.example. A 127.0.0.2
tie.example. MX 10 a.tie.example.
tie.example. MX 10 b.tie.example.
tie.example. MX 20 c.tie.example.
a.tie.example. A 127.0.0.2
b.tie.example. A 127.0.0.3
c.tie.example. A 127.0.0.4
nomx.example. A 127.0.0.4
dead.example. MX 10 mx1.dead.example.
dead.example. MX 20 mx2.dead.example.
mx1.dead.example. A 127.0.0.9
mx2.dead.example. A 127.0.0.3
multi.example. MX 10 mx.multi.example.
mx.multi.example. A 127.0.0.10
mx.multi.example. A 127.0.0.4
gone.example. MX 10 nowhere.gone.example.
gone.example. MX 20 mx.gone.example.
mx.gone.example. A 127.0.0.2
flaky.example. MX 10 sf.flaky.example.
flaky.example. MX 20 mx.flaky.example.
mx.flaky.example. A 127.0.0.4
`, "sf.flaky.example")

	cases := []struct {
		name    string
		rcpt    string
		shuffle func(int, func(i, j int))
		want    string // the address that gets the message
		noDNS   bool   // no DNS question may be asked
	}{
		{name: "the MX with the lower preference gets the message", rcpt: "joe@pref.example", want: "127.0.0.3"},
		{name: "equal preferences stay in DNS order when the shuffle leaves them", rcpt: "joe@tie.example", shuffle: keep, want: "127.0.0.2"},
		{name: "equal preferences go in the order the shuffle makes", rcpt: "joe@tie.example", shuffle: reverse, want: "127.0.0.3"},
		{name: "a domain without MX records gets it at its A record", rcpt: "joe@nomx.example", want: "127.0.0.4"},
		{name: "a dead primary MX leaves it to the secondary", rcpt: "joe@dead.example", want: "127.0.0.3"},
		{name: "an MX host's next address is tried when the first is dead", rcpt: "joe@multi.example", want: "127.0.0.4"},
		{name: "an MX host that does not exist is skipped", rcpt: "joe@gone.example", want: "127.0.0.2"},
		{name: "an MX host whose lookup fails for now is skipped when another has an address", rcpt: "joe@flaky.example", want: "127.0.0.4"},
		{name: "an address literal is used as it is, without DNS", rcpt: "joe@[127.0.0.4]", want: "127.0.0.4", noDNS: true},
		{name: "a bare dotted quad is an address literal too", rcpt: "joe@127.0.0.4", want: "127.0.0.4", noDNS: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// c.want is one of the peers' addresses.
			ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
			port, ls := listenSame(t, ips...)
			peers := map[string]*peer{}
			for _, l := range ls {
				p := startPeer(t, l)
				peers[p.ip] = p
			}
			d := newDeliverer(t, dns, port, nil)
			d.Shuffle = c.shuffle
			before := dns.Queries()

			report, oe := deliver(t, d, "sender@sender.test", c.rcpt, []byte(body))
			wantAccepted(t, report, oe, c.want)

			for ip, p := range peers {
				msgs := p.messages()
				if ip != c.want {
					if p.connections() != 0 {
						t.Errorf("%s was connected to %d times; only %s should have been", ip, p.connections(), c.want)
					}
					continue
				}
				if len(msgs) != 1 || len(msgs[0].to) != 1 || msgs[0].to[0] != c.rcpt {
					t.Errorf("%s received %+v, want one message to %s", ip, msgs, c.rcpt)
				}
			}
			if q := dns.Queries() - before; c.noDNS && q != 0 {
				t.Errorf("%d DNS questions were asked for %s, want none", q, c.rcpt)
			}
		})
	}
}

func TestSMTPRoutes(t *testing.T) {
	dns := startDNS(t, `
mx.example. MX 10 mx.mx.example.
mx.mx.example. A 127.0.0.2
routed.example. MX 10 mx.mx.example.
other.example. MX 10 mx.mx.example.
sub.example. MX 10 mx.mx.example.
a.sub.example. MX 10 mx.mx.example.
relay.example. A 127.0.0.3
relay.example. MX 10 mx.mx.example.
`)
	ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.6", "127.0.0.7"}
	port, ls := listenSame(t, ips...)
	peers := map[string]*peer{}
	for _, l := range ls {
		p := startPeer(t, l)
		peers[p.ip] = p
	}
	l5, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	p5 := startPeer(t, l5)
	port2 := l5.Addr().(*net.TCPAddr).Port
	if port2 == port {
		t.Fatalf("the route's port %d is the MX port", port2)
	}

	routes := strings.Join([]string{
		fmt.Sprintf("routed.example:127.0.0.5:%d", port2),
		".sub.example:127.0.0.7",
		"named.example:relay.example",
		"self.example:127.0.0.3",
		"mx.example:",
		":127.0.0.6",
	}, "\n")
	d := newDeliverer(t, dns, port, map[string]string{"smtproutes": routes})
	// Routes are exempt from the best-MX check: 127.0.0.3 being this
	// host must not stop self.example and named.example.
	d.LocalAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.3")}

	cases := []struct {
		name string
		rcpt string
		peer *peer
	}{
		{"a route for the domain, with a port, wins over its MX", "joe@routed.example", p5},
		{"a .suffix route catches the domains under it", "joe@a.sub.example", peers["127.0.0.7"]},
		{"a .suffix route does not catch the domain itself", "joe@sub.example", peers["127.0.0.6"]},
		{"the empty key routes every domain with no route of its own", "joe@other.example", peers["127.0.0.6"]},
		{"the empty key routes domains that do not exist in DNS", "joe@nosuch.example", peers["127.0.0.6"]},
		{"a route with an empty relay means deliver by MX", "joe@mx.example", peers["127.0.0.2"]},
		{"a relay name is looked up by address, not MX", "joe@named.example", peers["127.0.0.3"]},
		{"a route to this host's own address is followed", "joe@self.example", peers["127.0.0.3"]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := map[*peer]int{}
			for _, p := range append([]*peer{p5}, mapValues(peers)...) {
				before[p] = len(p.messages())
			}
			report, oe := deliver(t, d, "sender@sender.test", c.rcpt, []byte(body))
			wantAccepted(t, report, oe, c.peer.ip)
			for p, n := range before {
				got := len(p.messages()) - n
				want := 0
				if p == c.peer {
					want = 1
				}
				if got != want {
					t.Errorf("%s received %d messages, want %d", p.addr, got, want)
				}
			}
		})
	}
}

func mapValues(m map[string]*peer) []*peer {
	var out []*peer
	for _, p := range m {
		out = append(out, p)
	}
	return out
}

func TestNoHostToDeliverTo(t *testing.T) {
	dns := startDNS(t, `
nullmx.example. MX 0 .
nohost.example. MX 10 nowhere.nohost.example.
noaddr.example. MX 10 mx.noaddr.example.
mx.noaddr.example. TXT "no address here"
empty.example. TXT "neither MX nor address"
mxsf.example. MX 10 mx.mxsf.example.
`, "sf.example", "mx.mxsf.example")
	noSuchDomain := func(name string) failure {
		return failure{permanent: true, text: "Sorry, I couldn't find any host named " + name + ". (#5.1.2)"}
	}
	noHost := failure{permanent: true, text: "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)"}
	dnsTemp := failure{text: "Sorry, I couldn't find any host by that name. (#4.1.2)"}

	cases := []struct {
		name string
		rcpt string
		want failure
	}{
		{"a domain that does not exist is permanent", "joe@nosuch.example", noSuchDomain("nosuch.example")},
		{"a domain whose MX lookup gets SERVFAIL is temporary", "joe@sf.example", dnsTemp},
		{"an only MX host whose lookup gets SERVFAIL is temporary", "joe@mxsf.example", dnsTemp},
		{"a null MX is permanent", "joe@nullmx.example", failure{permanent: true, contains: []string{"nullmx.example", "null MX"}}},
		{"an only MX host that does not exist is permanent", "joe@nohost.example", noHost},
		{"an only MX host with no address is permanent", "joe@noaddr.example", noHost},
		{"a domain with neither MX nor address is permanent", "joe@empty.example", noHost},
		{"a relay that does not exist is permanent", "joe@badrelay.example", noSuchDomain("nosuch-relay.example")},
		{"an address without a host is permanent", "joe", failure{permanent: true, text: "Sorry, address must include host name. (#5.1.3)"}},
	}
	d := newDeliverer(t, dns, 25, map[string]string{"smtproutes": "badrelay.example:nosuch-relay.example"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			report, oe := deliver(t, d, "sender@sender.test", c.rcpt, []byte(body))
			wantFailure(t, report, oe, c.want)
		})
	}
}

func TestNoNameServerAnsweringIsTemporary(t *testing.T) {
	// A UDP socket that never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	dns := startDNS(t, "")
	d := newDeliverer(t, dns, 25, nil)
	d.Resolver = &Resolver{Servers: []string{silent.LocalAddr().String()}, Timeout: 200 * time.Millisecond}

	report, oe := deliver(t, d, "sender@sender.test", "joe@example.org", []byte(body))
	wantFailure(t, report, oe, failure{text: "Sorry, I couldn't find any host by that name. (#4.1.2)"})
}

func TestBestMXIsMe(t *testing.T) {
	// control/me is mx.sender.test; 127.0.0.8 is this host's address.
	dns := startDNS(t, `
name.example. MX 10 mx.sender.test.
mx.sender.test. A 127.0.0.11
case.example. MX 10 MX.Sender.TEST.
addr.example. MX 10 mx.addr.example.
mx.addr.example. A 127.0.0.8
zero.example. MX 10 mx.zero.example.
mx.zero.example. A 0.0.0.0
selfa.example. A 127.0.0.8
better.example. MX 5 mx.better.example.
better.example. MX 10 mx.sender.test.
mx.better.example. A 127.0.0.2
worse.example. MX 5 dead.worse.example.
worse.example. MX 10 mx.sender.test.
worse.example. MX 20 mx.worse.example.
dead.worse.example. A 127.0.0.9
mx.worse.example. A 127.0.0.3
`)
	port, ls := listenSame(t, "127.0.0.2", "127.0.0.3")
	p2, p3 := startPeer(t, ls[0]), startPeer(t, ls[1])
	d := newDeliverer(t, dns, port, map[string]string{"me": "mx.sender.test"})
	d.LocalAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.8")}

	me := failure{permanent: true, contains: []string{"Sorry. Although I'm listed as a best-preference MX or A for that host,\n", "(#5.4.6)"}}
	cases := []struct {
		name string
		rcpt string
		want failure
		by   *peer // when delivered
	}{
		{name: "a best MX named as control/me is refused", rcpt: "joe@name.example", want: me},
		{name: "the name is compared without regard to case", rcpt: "joe@case.example", want: me},
		{name: "a best MX at this host's address is refused", rcpt: "joe@addr.example", want: me},
		{name: "a best MX at 0.0.0.0 is refused", rcpt: "joe@zero.example", want: me},
		{name: "a domain whose own address is this host's is refused", rcpt: "joe@selfa.example", want: me},
		{name: "an address literal that is this host is refused", rcpt: "joe@[127.0.0.8]", want: me},
		{name: "an MX better than me is used", rcpt: "joe@better.example", by: p2},
		{name: "MX hosts not better than me are never tried", rcpt: "joe@worse.example",
			want: failure{text: "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n2, n3 := p2.connections(), p3.connections()
			report, oe := deliver(t, d, "sender@sender.test", c.rcpt, []byte(body))
			if c.by != nil {
				wantAccepted(t, report, oe, c.by.ip)
				return
			}
			wantFailure(t, report, oe, c.want)
			if p2.connections() != n2 || p3.connections() != n3 {
				t.Errorf("a peer was connected to")
			}
		})
	}
}

func TestInterfaceAddressesCountAsMineWhenLocalAddrsIsNil(t *testing.T) {
	dns := startDNS(t, "lo.example. A 127.0.0.1\n")
	// Port 1: should the check fail, the attempt goes nowhere.
	d := newDeliverer(t, dns, 1, nil)
	d.LocalAddrs = nil
	report, oe := deliver(t, d, "sender@sender.test", "joe@lo.example", []byte(body))
	wantFailure(t, report, oe, failure{permanent: true, contains: []string{"(#5.4.6)"}})
}

func TestLiteral(t *testing.T) {
	cases := []struct {
		host string
		want string // "" when not a literal
	}{
		{"[127.0.0.4]", "127.0.0.4"},
		{"127.0.0.4", "127.0.0.4"},
		{"[IPv6:::1]", "::1"},
		{"::1", ""},
		{"[example.org]", ""},
		{"example.org", ""},
		{"[127.0.0.4", ""},
		{"", ""},
	}
	for _, c := range cases {
		ip, ok := literal(c.host)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != c.want {
			t.Errorf("literal(%q) = %q, %v; want %q", c.host, got, ok, c.want)
		}
	}
}
