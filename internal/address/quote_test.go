package address

import "testing"

func TestQuoteFollowsQmail(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"joe@example.org", "joe@example.org"},
		{"joe.bloggs+tag@example.org", "joe.bloggs+tag@example.org"},
		{"two words@example.org", `"two words"@example.org`},
		{".lead@example.org", `".lead"@example.org`},
		{"trail.@example.org", `"trail."@example.org`},
		{"dou..ble@example.org", `"dou..ble"@example.org`},
		{`q"uote@example.org`, `"q\"uote"@example.org`},
		{"a@b@example.org", `"a@b"@example.org`},
		{"#@[]", "#@[]"},
		{"postmaster", "postmaster"},
		{"\xe9t\xe9@example.org", "\"\xe9t\xe9\"@example.org"},
	}
	for _, c := range cases {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzQuote(f *testing.F) {
	f.Add("joe@example.org")
	f.Add(`"x"@y`)
	f.Fuzz(func(t *testing.T, addr string) {
		q := Quote(addr)
		if addr != "" && q == "" {
			t.Fatalf("Quote(%q) is empty", addr)
		}
		if len(q) < len(addr) {
			t.Fatalf("Quote(%q) = %q lost bytes", addr, q)
		}
	})
}
