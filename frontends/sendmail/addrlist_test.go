package sendmail

import (
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/address"
)

func TestAddressListsAreRewrittenInPlace(t *testing.T) {
	q := address.Qualifier{DefaultHost: "zippy", DefaultDomain: "math.uic.edu", PlusDomain: "uic.edu"}
	cases := []struct {
		in, out string
		addrs   []string
	}{
		{" joe", " joe@zippy.math.uic.edu", []string{"joe@zippy.math.uic.edu"}},
		{" joe@russet, fred@ut.ee", " joe@russet.math.uic.edu, fred@ut.ee", []string{"joe@russet.math.uic.edu", "fred@ut.ee"}},
		{" Joe Smith <joe@russet>", " Joe Smith <joe@russet.math.uic.edu>", []string{"joe@russet.math.uic.edu"}},
		{` "Smith, Joe" <joe>`, ` "Smith, Joe" <joe@zippy.math.uic.edu>`, []string{"joe@zippy.math.uic.edu"}},
		{" joe@x.example (Joe Smith)", " joe@x.example (Joe Smith)", []string{"joe@x.example"}},
		{" djb fred", " djb@zippy.math.uic.edu, fred@zippy.math.uic.edu", []string{"djb@zippy.math.uic.edu", "fred@zippy.math.uic.edu"}},
		{" list: a@b.example, c;", " list: a@b.example, c@zippy.math.uic.edu;", []string{"a@b.example", "c@zippy.math.uic.edu"}},
		{" undisclosed-recipients: ;", " undisclosed-recipients:;", nil},
		{` "a b"@x.example`, ` "a b"@x.example`, []string{"a b@x.example"}},
		{" <@route,@r2:box@dom.example>", " <box@dom.example>", []string{"box@dom.example"}},
		{" uicvm+", " uicvm+@zippy.math.uic.edu", []string{"uicvm+@zippy.math.uic.edu"}},
		{" joe@arm3.esd+", " joe@arm3.esd.uic.edu", []string{"joe@arm3.esd.uic.edu"}},
	}
	for _, tc := range cases {
		l, err := parseAddrList(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := l.write(q.Qualify); got != tc.out {
			t.Errorf("%q written as %q, want %q", tc.in, got, tc.out)
		}
		var got []string
		for _, a := range l.addrs {
			got = append(got, q.Qualify(a))
		}
		if strings.Join(got, "|") != strings.Join(tc.addrs, "|") {
			t.Errorf("%q addresses %q, want %q", tc.in, got, tc.addrs)
		}
	}
	for _, bad := range []string{` "unterminated`, " (open comment", " <a@b", " a@b>", " <a <b>>", " ) b", " a ] b", ` a@b\`,
		// A backslash before a line end or a special in the domain:
		// written back, the field would end early or split.
		" a\\\n @x.example", " x@a\\,b\\ c.d", " \"a\nb\"@x.example"} {
		if _, err := parseAddrList(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestLongListsAreFolded(t *testing.T) {
	var in []string
	for i := 0; i < 12; i++ {
		in = append(in, "someone.with.a.long.name@example.org")
	}
	l, _ := parseAddrList(" " + strings.Join(in, ", "))
	out := l.write(func(a string) string { return a })
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 80 {
			t.Fatalf("a folded line of %d bytes: %q", len(line), line)
		}
	}
	if strings.Count(out, "@example.org") != 12 || !strings.Contains(out, "\n ") {
		t.Fatalf("folded:\n%s", out)
	}
}
