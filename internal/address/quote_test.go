package address

import (
	"fmt"
	"strings"
	"testing"
)

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

// FuzzQuote checks Quote against the grammar it writes to, read back by
// unquote below, written apart from it: a local part is a dot-atom sent
// as it is, or a quoted string that gives back exactly the bytes it
// quotes; the domain follows unchanged.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"joe@example.org", `"x"@y`, "a b@c", "a..b@c", ".a@c", "a.@c", "@c", "x@y@z", "back\\slash@d", "cr\rlf\n@d", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		q := Quote(addr)
		if addr == "" {
			if q != "" {
				t.Fatalf("Quote of the null address = %q", q)
			}
			return
		}
		local, domain, err := unquote(q)
		if err != nil {
			t.Fatalf("Quote(%q) = %q: %v", addr, q, err)
		}
		want := addr
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			if domain != addr[at:] {
				t.Fatalf("Quote(%q) = %q: domain part %q, want %q", addr, q, domain, addr[at:])
			}
			want = addr[:at]
		}
		if local != want {
			t.Fatalf("Quote(%q) = %q reads back as %q", addr, q, local)
		}
	})
}

// unquote reads a quoted address: a quoted string or a dot-atom (atom
// characters, no dot first, last or twice), then the rest, which is ""
// or starts with "@".
func unquote(q string) (local, rest string, err error) {
	if strings.HasPrefix(q, `"`) {
		var b strings.Builder
		for i := 1; i < len(q); i++ {
			switch q[i] {
			case '\\':
				if i+1 == len(q) {
					return "", "", fmt.Errorf("escape at the end")
				}
				i++
				b.WriteByte(q[i])
			case '"':
				rest = q[i+1:]
				if rest != "" && rest[0] != '@' {
					return "", "", fmt.Errorf("%q after the quoted string", rest)
				}
				return b.String(), rest, nil
			case '\r', '\n':
				return "", "", fmt.Errorf("a bare line end inside quotes")
			default:
				b.WriteByte(q[i])
			}
		}
		return "", "", fmt.Errorf("unterminated quoted string")
	}
	local, rest = q, ""
	if at := strings.IndexByte(q, '@'); at >= 0 {
		local, rest = q[:at], q[at:]
	}
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", "", fmt.Errorf("%q is not a dot-atom", local)
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0) {
			return "", "", fmt.Errorf("%q is not an atom character", c)
		}
	}
	return local, rest, nil
}
