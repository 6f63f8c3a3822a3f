package control

import "testing"

func TestLocalsMatchExactDomainsOnly(t *testing.T) {
	d, _ := open(t, map[string]string{
		"me":     "mx.example.org\n",
		"locals": "# local domains\nExample.ORG\n\nlocalhost\r\n[192.0.2.1]\n",
	})
	cases := []struct {
		domain string
		want   bool
	}{
		{"example.org", true},
		{"EXAMPLE.org", true},
		{"localhost", true},
		{"[192.0.2.1]", true},
		{"mx.example.org", false}, // me counts only when locals is absent
		{"sub.example.org", false},
		{"# local domains", false},
		{"", false},
	}
	locals := d.Locals()
	for _, c := range cases {
		if got := locals.Contains(c.domain); got != c.want {
			t.Errorf("Contains(%q) = %v, want %v", c.domain, got, c.want)
		}
	}
	if locals.Len() != 3 {
		t.Errorf("Len = %d, want 3", locals.Len())
	}
}

func TestLocalsDefaultToMe(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string // the only member, or "" for none
	}{
		{"absent locals hold me", map[string]string{"me": "MX.Example.org\n"}, "mx.example.org"},
		{"an empty me gives no locals", map[string]string{"me": "\n"}, ""},
		{"no me gives no locals", nil, ""},
		{"an empty locals is empty, not me", map[string]string{"me": "mx.example.org", "locals": ""}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := open(t, c.files)
			got := d.Locals()
			if c.want == "" {
				if got.Len() != 0 {
					t.Errorf("Len = %d, want 0", got.Len())
				}
				return
			}
			if got.Len() != 1 || !got.Contains(c.want) {
				t.Errorf("locals = %d entries, Contains(%q) = %v; want only it", got.Len(), c.want, got.Contains(c.want))
			}
		})
	}
}

func TestRcptHostsMatching(t *testing.T) {
	d, _ := open(t, map[string]string{
		"rcpthosts":     "heaven.org\n.heaven.af.mil\n[192.0.2.7]\n",
		"morercpthosts": "# compiled by qmail-newmrh in qmail\nmore.example\n.sub.more.example\n",
	})
	set, present := d.RcptHosts()
	if !present {
		t.Fatal("rcpthosts not present")
	}
	cases := []struct {
		name, domain string
		want         bool
	}{
		{"an exact entry matches", "heaven.org", true},
		{"case is ignored", "HEAVEN.Org", true},
		{"an exact entry does not match subdomains", "x.heaven.org", false},
		{"a .suffix matches a subdomain", "x.heaven.af.mil", true},
		{"a .suffix matches deeper subdomains", "a.b.heaven.af.mil", true},
		{"a .suffix does not match the domain itself", "heaven.af.mil", false},
		{"a .suffix does not match a longer name ending the same", "xheaven.af.mil", false},
		{"an address literal matches", "[192.0.2.7]", true},
		{"morercpthosts entries count", "more.example", true},
		{"morercpthosts suffixes count", "a.sub.more.example", true},
		{"an empty domain matches nothing", "", false},
		{"an unlisted domain does not match", "example.com", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := set.MatchRcptHost(c.domain); got != c.want {
				t.Errorf("MatchRcptHost(%q) = %v, want %v", c.domain, got, c.want)
			}
		})
	}
}

func TestMoreRcptHostsNeedsRcptHosts(t *testing.T) {
	d, _ := open(t, map[string]string{"morercpthosts": "more.example\n"})
	if set, present := d.RcptHosts(); present || set.MatchRcptHost("more.example") {
		t.Errorf("morercpthosts used without rcpthosts")
	}
	d, _ = open(t, map[string]string{"rcpthosts": "", "morercpthosts": "more.example\n"})
	set, present := d.RcptHosts()
	if !present || !set.MatchRcptHost("more.example") {
		t.Errorf("morercpthosts not used beside an empty rcpthosts")
	}
}

func TestEmptyRcptHostsIsPresentAndAcceptsNothing(t *testing.T) {
	d, _ := open(t, map[string]string{"rcpthosts": "# nothing\n"})
	set, present := d.RcptHosts()
	if !present || set.Len() != 0 || set.MatchRcptHost("example.org") {
		t.Errorf("empty rcpthosts: present %v, %d entries", present, set.Len())
	}
}

func TestVirtualDomainsLookupOrder(t *testing.T) {
	d, _ := open(t, map[string]string{"virtualdomains": `# virtual domains
nowhere.mil:joe-foo
info@nowhere.mil:info-desk
.heaven.af.mil:heaven
x.heaven.af.mil:
.af.mil:af
Shadow.example:first
shadow.example:second
:catchall
`})
	v := d.VirtualDomains()
	cases := []struct {
		name, address, prepend string
		found                  bool
	}{
		{"the domain maps to its prepend", "anyone@nowhere.mil", "joe-foo", true},
		{"the whole address beats the domain", "info@nowhere.mil", "info-desk", true},
		{"case is ignored in keys and lookups", "Info@NoWhere.MIL", "info-desk", true},
		{"the longest suffix wins", "joe@a.x.heaven.af.mil", "heaven", true},
		{"a suffix matches a subdomain", "joe@y.heaven.af.mil", "heaven", true},
		{"an empty prepend is an exception", "joe@x.heaven.af.mil", "", true},
		{"a shorter suffix is tried after longer ones", "joe@heaven.af.mil", "af", true},
		{"the last of duplicate keys wins", "joe@shadow.example", "second", true},
		{"the empty key catches the rest", "joe@example.com", "catchall", true},
		{"an address without @ falls to the empty key", "joe", "catchall", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prepend, found := v.Lookup(c.address)
			if prepend != c.prepend || found != c.found {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", c.address, prepend, found, c.prepend, c.found)
			}
		})
	}
}

func TestVirtualDomainsWithoutCatchAll(t *testing.T) {
	d, _ := open(t, map[string]string{"virtualdomains": "example.org:alice\n"})
	if p, found := d.VirtualDomains().Lookup("bob@example.com"); found {
		t.Errorf("Lookup found %q for an unlisted domain", p)
	}
	var nilMap *VirtualDomains
	if _, found := nilMap.Lookup("bob@example.org"); found {
		t.Errorf("a nil *VirtualDomains found something")
	}
}

func TestSMTPRoutesLookup(t *testing.T) {
	d, _ := open(t, map[string]string{"smtproutes": `# routes
example.org:relay.example.net
.example.org:relay.example.net:2525
direct.example.org:
Example.COM:first.example.net
example.com:[192.0.2.25]:587
:smarthost.example.net
`})
	r := d.SMTPRoutes()
	cases := []struct {
		name, host, relay string
		port              int
		found             bool
	}{
		{"a host without a port leaves the port to the caller", "example.org", "relay.example.net", 0, true},
		{"a suffix route carries its port", "mx.example.org", "relay.example.net", 2525, true},
		{"the host is tried before its suffixes, and an empty relay means MX as usual", "direct.example.org", "", 0, true},
		{"the last of duplicate keys wins", "EXAMPLE.com", "[192.0.2.25]", 587, true},
		{"the empty key routes everything else", "example.net", "smarthost.example.net", 0, true},
		{"an empty host falls to the empty key", "", "smarthost.example.net", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			relay, port, found := r.Lookup(c.host)
			if relay != c.relay || port != c.port || found != c.found {
				t.Errorf("Lookup(%q) = %q, %d, %v; want %q, %d, %v", c.host, relay, port, found, c.relay, c.port, c.found)
			}
		})
	}
	d, _ = open(t, map[string]string{"smtproutes": "example.org:relay.example.net\n"})
	if _, _, found := d.SMTPRoutes().Lookup("example.com"); found {
		t.Errorf("an unrouted host was found without an empty key")
	}
}

func TestBadMailFromMatches(t *testing.T) {
	d, _ := open(t, map[string]string{"badmailfrom": "# refused senders\nSpammer@Example.com\n@junk.example\n"})
	b := d.BadMailFrom()
	cases := []struct {
		name, sender string
		want         bool
	}{
		{"a listed address is refused", "spammer@example.com", true},
		{"case is ignored", "SPAMMER@EXAMPLE.COM", true},
		{"another user at the domain is not", "friend@example.com", false},
		{"an @domain entry refuses every sender there", "anyone@junk.example", true},
		{"an @domain entry uses the text after the last @", "a@b@junk.example", true},
		{"an @domain entry does not cover subdomains", "anyone@mx.junk.example", false},
		{"the bounce sender is never refused", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := b.Matches(c.sender); got != c.want {
				t.Errorf("Matches(%q) = %v, want %v", c.sender, got, c.want)
			}
		})
	}
}
