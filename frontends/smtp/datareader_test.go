package smtp

import (
	"io"
	"strings"
	"testing"
)

func read(t *testing.T, data string, limit int64) *messageReader {
	t.Helper()
	m := newMessageReader(limit)
	// Feed in small pieces so that CR LF pairs straddle reads.
	r := &chunked{s: data, n: 3}
	if err := m.readFrom(r); err != nil {
		t.Fatal(err)
	}
	return m
}

type chunked struct {
	s string
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.s))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}

func TestCRLFBecomesLF(t *testing.T) {
	m := read(t, "Subject: x\r\n\r\nline\r\n", 1000)
	if got := string(m.message()); got != "Subject: x\n\nline\n" || m.bareLF || m.bareCR || m.tooBig {
		t.Fatalf("got %q bareLF=%v bareCR=%v tooBig=%v", got, m.bareLF, m.bareCR, m.tooBig)
	}
}

func TestBareLFRefused(t *testing.T) {
	if m := read(t, "Subject: x\r\n\r\nline\nmore\r\n", 1000); !m.bareLF {
		t.Fatal("bare LF not noticed")
	}
}

// go-smtp ends DATA only at CRLF.CRLF and drops the dot of "\r\n.\n",
// handing on "\r\n\n": the bare LF is what must be refused.
func TestSmugglingCRLFDotLF(t *testing.T) {
	if m := read(t, "a\r\n\nMAIL FROM:<x@y>\r\n", 1000); !m.bareLF {
		t.Fatal("bare LF after a dropped dot not noticed")
	}
}

func TestBareCRRefused(t *testing.T) {
	for _, data := range []string{"a\rb\r\n", "a\r"} {
		if m := read(t, data, 1000); !m.bareCR {
			t.Errorf("bare CR in %q not noticed", data)
		}
	}
}

func TestSizeLimitCountsTheStoredForm(t *testing.T) {
	body := "12345678\r\n" // 9 bytes once stored
	if m := read(t, body, 9); m.tooBig {
		t.Fatal("a message of exactly the limit was refused")
	}
	m := read(t, body+"x\r\n", 9)
	if !m.tooBig {
		t.Fatal("a message over the limit was accepted")
	}
	if m.size != 11 || len(m.message()) != 9 {
		t.Fatalf("size %d, kept %d bytes", m.size, len(m.message()))
	}
}

func TestHopCountReadsOnlyTheHeader(t *testing.T) {
	header := strings.Repeat("Received: x\r\n", 60) + strings.Repeat("delivered-to: y\r\n", 39) + "Received-SPF: z\r\n"
	if m := read(t, header+"\r\nReceived: in body\r\n", 1<<20); m.hops != 100 {
		t.Fatalf("hops = %d, want 100", m.hops)
	}
	if m := read(t, "Receiv: x\r\nDeliver: y\r\n\r\n", 1000); m.hops != 0 {
		t.Fatalf("short prefixes counted: %d", m.hops)
	}
}
