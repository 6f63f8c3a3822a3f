package engine

import "testing"

func TestExpandVERP(t *testing.T) {
	cases := []struct{ sender, rcpt, want string }{
		{"list-owner-@example.org-@[]", "joe@far.example", "list-owner-joe=far.example@example.org"},
		{"list-owner-@example.org-@[]", "postmaster", "list-owner-@example.org-@[]"},
		{"plain@example.org", "joe@far.example", "plain@example.org"},
		{"", "joe@far.example", ""},
		{"#@[]", "joe@far.example", "#@[]"},
	}
	for _, c := range cases {
		if got := ExpandVERP(c.sender, c.rcpt); got != c.want {
			t.Errorf("ExpandVERP(%q, %q) = %q, want %q", c.sender, c.rcpt, got, c.want)
		}
	}
}
