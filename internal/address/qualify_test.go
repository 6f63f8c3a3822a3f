package address

import "testing"

// The spec's examples (qmail-inject.8 and qmail-control.5).
func TestQualifyFollowsQmailInject(t *testing.T) {
	uic := Qualifier{DefaultHost: "zippy", DefaultDomain: "math.uic.edu", PlusDomain: "uic.edu"}
	ornl := Qualifier{DefaultHost: "sws5.ctd.ornl.gov", DefaultDomain: "ctd.ornl.gov", PlusDomain: "ornl.gov"}
	cases := []struct {
		q        Qualifier
		in, want string
	}{
		{uic, "joe@russet", "joe@russet.math.uic.edu"},
		{uic, "joe@ut.ee", "joe@ut.ee"},
		{uic, "joe@ut.ee+", "joe@ut.ee.uic.edu"},
		{uic, "joe@uicvm+", "joe@uicvm.uic.edu"},
		{uic, "joe", "joe@zippy.math.uic.edu"},
		{uic, "", ""},
		{uic, "box@[]", "box@[]"},
		{uic, "joe@[192.0.2.1]", "joe@[192.0.2.1]"},
		{uic, "@a,@b:box@dom.example", "box@dom.example"},
		{uic, "@a:", ""},
		{uic, "joe@host.example.", "joe@host.example"},
		{uic, "joe@", "joe@zippy.math.uic.edu"},
		{ornl, "de5@sws1", "de5@sws1.ctd.ornl.gov"},
		{ornl, "de5@arm3.esd+", "de5@arm3.esd.ornl.gov"},
		{Qualifier{DefaultHost: "lists+", DefaultDomain: "d.example", PlusDomain: "p.example"}, "joe", "joe@lists.p.example"},
	}
	for _, tc := range cases {
		if got := tc.q.Qualify(tc.in); got != tc.want {
			t.Errorf("%+v: %q becomes %q, want %q", tc.q, tc.in, got, tc.want)
		}
	}
}
