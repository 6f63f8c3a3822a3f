package control

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/address"
)

func TestMalformedListAndColonFiles(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		content string
		line    int
		text    string // in the error
	}{
		{"leading whitespace in rcpthosts", "rcpthosts", "example.org\n  example.net\n", 2, `leading whitespace: "  example.net"`},
		{"whitespace inside a locals entry", "locals", "# c\n\nexample.org other.org\n", 3, `whitespace inside entry: "example.org other.org"`},
		{"a control character", "rcpthosts", "exa\x01mple.org\n", 1, "control character in entry"},
		{"an @ in rcpthosts", "rcpthosts", "user@example.org\n", 1, `not a host name, .suffix or [address]: "user@example.org"`},
		{"a wildcard in rcpthosts", "rcpthosts", "*.example.org\n", 1, "not a host name"},
		{"a slash in morercpthosts", "morercpthosts", "example.org/24\n", 1, "not a host name"},
		{"a .suffix in locals", "locals", ".example.org\n", 1, `not a host name or [address]: ".example.org"`},
		{"a bare dot in rcpthosts", "rcpthosts", ".\n", 1, "not a host name"},
		{"an unclosed literal", "locals", "[192.0.2.1\n", 1, "not a host name"},
		{"an empty literal", "locals", "[]\n", 1, "not an address literal"},
		{"a bare @ in badmailfrom", "badmailfrom", "ok@example.org\n@\n", 2, "without a domain"},
		{"whitespace in badmailfrom", "badmailfrom", "a b@example.org\n", 1, "whitespace inside entry"},
		{"a virtualdomains line without a colon", "virtualdomains", "example.org:alice\nexample.net\n", 2, `no colon in "example.net"`},
		{"a virtualdomains key with an empty user", "virtualdomains", "@example.org:alice\n", 1, "empty user"},
		{"a virtualdomains key that is no domain", "virtualdomains", "exa*mple.org:alice\n", 1, "not a host name"},
		{"a virtualdomains line with a space", "virtualdomains", "example.org: alice\n", 1, "whitespace inside entry"},
		{"an smtproutes line without a colon", "smtproutes", "example.org\n", 1, "no colon"},
		{"an smtproutes port of 0", "smtproutes", "example.org:relay.example.net:0\n", 1, `port not in 1..65535: "0"`},
		{"an smtproutes port too large", "smtproutes", "example.org:relay.example.net:65536\n", 1, `port not in 1..65535: "65536"`},
		{"an smtproutes port with a sign", "smtproutes", "example.org:relay.example.net:+25\n", 1, "port not in 1..65535"},
		{"an smtproutes empty port", "smtproutes", "example.org:relay.example.net:\n", 1, `port not in 1..65535: ""`},
		{"an smtproutes port without a relay", "smtproutes", "example.org::25\n", 1, "relay not a host name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := open(t, map[string]string{c.file: c.content})
			err := d.Check()
			if err == nil {
				t.Fatalf("Check passed")
			}
			wantFileError(t, err, d.Path(c.file), c.line)
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not contain %q", err, c.text)
			}
		})
	}
}

func TestWellFormedListAndColonFiles(t *testing.T) {
	cases := []struct {
		name, file, content string
	}{
		{"comments blank lines and CRLF", "rcpthosts", "# hosts\r\n\r\nexample.org\r\n#  indented comment text\n"},
		{"trailing whitespace is stripped", "locals", "example.org \t\n"},
		{"underscores and literals", "locals", "under_score.example\n[192.0.2.1]\n[IPv6:2001:db8::1]\n"},
		{"a badmailfrom with non-ASCII bytes", "badmailfrom", "usér@example.org\n@junk.example\n"},
		{"virtualdomains key forms", "virtualdomains", "example.org:a\n.example.net:b\nu@example.com:c\n:d\nexample.info:\n"},
		{"smtproutes value forms", "smtproutes", "example.org:relay.example.net\n.example.org:192.0.2.1:2525\nx.example:\n:smarthost.example.net:25\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := open(t, map[string]string{c.file: c.content})
			if err := d.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestASCIILowerLeavesOtherBytesAlone(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Example.ORG", "example.org"},
		{"already.lower", "already.lower"},
		{"ÜSER@Example", "Üser@example"},
		{"", ""},
	}
	for _, c := range cases {
		if got := address.Lower(c.in); got != c.want {
			t.Errorf("address.Lower(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// checkStored fails unless key is how entries must be stored: ASCII lower
// case, without whitespace or control characters.
func checkStored(t *testing.T, what, key string) {
	t.Helper()
	if address.Lower(key) != key {
		t.Errorf("%s %q is not lower case", what, key)
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		t.Errorf("%s %q holds whitespace or a control character", what, key)
	}
}

func FuzzListParser(f *testing.F) {
	for _, seed := range []string{
		"example.org\n.heaven.af.mil\n[192.0.2.1]\n",
		"# comment\r\n\r\nExample.ORG \t\r\n",
		"  leading.example\n",
		"spam@example.com\n@junk.example\n",
		"bad host\n",
		"[IPv6:2001:db8::1]\n",
		".\n..\n[\n]\n@\n",
		"\x00\xff\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, suffix := range []bool{false, true} {
			set, err := parseDomains(data, suffix)
			if err != nil {
				if err.Line < 1 || err.Err == nil {
					t.Errorf("error without a line: %#v", err)
				}
				continue
			}
			for k := range set.m {
				checkStored(t, "domain", k)
				if checkDomain(k, suffix) != nil {
					t.Errorf("stored %q is not a valid entry", k)
				}
				if !set.Contains(strings.ToUpper(k)) {
					t.Errorf("Contains(%q) is false for a stored entry", k)
				}
				if !strings.HasPrefix(k, ".") && !set.MatchRcptHost(k) {
					t.Errorf("MatchRcptHost(%q) is false for a stored entry", k)
				}
			}
		}
		b, err := parseBadMailFrom(data)
		if err != nil {
			return
		}
		for k := range b.m {
			checkStored(t, "badmailfrom entry", k)
			if k == "" || k == "@" {
				t.Errorf("stored entry %q matches nothing useful", k)
			}
			if !b.Matches(k) {
				t.Errorf("Matches(%q) is false for a stored entry", k)
			}
		}
	})
}

func FuzzColonParser(f *testing.F) {
	for _, seed := range []string{
		"nowhere.mil:joe-foo\ninfo@nowhere.mil:info\n.heaven.af.mil:heaven\nx.heaven.af.mil:\n:catchall\n",
		"example.org:relay.example.net:2525\n.example.org:[192.0.2.1]\n:smarthost\n",
		"example.org\n",
		"a:b:c:d\n",
		"example.org:relay:99999\n",
		"# c\n\nA.B:C\nA.b:D\n",
		":\n::\n:::\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := parseVirtualDomains(data); err == nil {
			for k, p := range v.m {
				checkStored(t, "virtualdomains key", k)
				if strings.ContainsAny(p, " \t\r\n") {
					t.Errorf("prepend %q holds whitespace", p)
				}
				if got, found := v.Lookup(k); !found || got != p {
					t.Errorf("Lookup(%q) = %q, %v; want its own entry %q", k, got, found, p)
				}
			}
		} else if err.Line < 1 {
			t.Errorf("error without a line: %v", err)
		}
		if r, err := parseSMTPRoutes(data); err == nil {
			for k, rt := range r.m {
				checkStored(t, "smtproutes key", k)
				if rt.port < 0 || rt.port > 65535 || (rt.relay == "" && rt.port != 0) {
					t.Errorf("route %q has relay %q port %d", k, rt.relay, rt.port)
				}
				if strings.ContainsAny(rt.relay, " \t\r\n:") {
					t.Errorf("relay %q holds whitespace or a colon", rt.relay)
				}
				relay, port, found := r.Lookup(k)
				if !found || relay != rt.relay || port != rt.port {
					t.Errorf("Lookup(%q) = %q, %d, %v; want its own entry", k, relay, port, found)
				}
			}
		} else if err.Line < 1 {
			t.Errorf("error without a line: %v", err)
		}
	})
}

func FuzzIntParser(f *testing.F) {
	for _, seed := range []string{"1048576\n", "  42 \r\n", "20abc\n", "-5\n", "", "0\n",
		"9223372036854775807\n", "9223372036854775808\n", "+1\n", "1\n2\n", "٣\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseInt(data)
		if err != nil {
			if err.Line != 1 {
				t.Errorf("error on line %d, want 1", err.Line)
			}
			return
		}
		if n < 0 {
			t.Errorf("parsed a negative %d", n)
		}
		digits := strings.TrimLeft(firstLine(data), " \t")
		if strings.TrimLeft(digits, "0") != strings.TrimLeft(strconv.FormatInt(n, 10), "0") {
			t.Errorf("parsed %q as %d", firstLine(data), n)
		}
	})
}
