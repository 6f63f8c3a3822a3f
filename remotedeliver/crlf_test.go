package remotedeliver

import "testing"

func TestLoneCRBecomesCRLF(t *testing.T) {
	cases := map[string]string{
		"a\nb\n":     "a\nb\n",
		"a\r\nb\r\n": "a\r\nb\r\n",
		"a\rb\n":     "a\r\nb\n",
		"end\r":      "end\r\n",
		"\r\r\n":     "\r\n\r\n",
	}
	for in, want := range cases {
		if got := string(crlfSafe([]byte(in))); got != want {
			t.Errorf("crlfSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
