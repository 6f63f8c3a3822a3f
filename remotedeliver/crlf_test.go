package remotedeliver

import (
	"bytes"
	"testing"
)

// Every lone CR becomes CRLF, however the stream is cut into writes.
func TestLoneCRBecomesCRLF(t *testing.T) {
	cases := map[string]string{
		"a\nb\n":     "a\nb\n",
		"a\r\nb\r\n": "a\r\nb\r\n",
		"a\rb\n":     "a\r\nb\n",
		"end\r":      "end\r\n",
		"\r\r\n":     "\r\n\r\n",
		"\r":         "\r\n",
	}
	for in, want := range cases {
		for size := 1; size <= len(in); size++ {
			var out bytes.Buffer
			c := &crlfSafe{w: &out}
			for i := 0; i < len(in); i += size {
				c.Write([]byte(in[i:min(i+size, len(in))]))
			}
			c.end()
			if got := out.String(); got != want {
				t.Errorf("%q in writes of %d: %q, want %q", in, size, got, want)
			}
		}
	}
}
