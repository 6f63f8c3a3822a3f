package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll runs readData over raw, fed whole or a byte at a time, and
// returns the stored form, what ended it, and what was left unread.
func readAll(t *testing.T, raw string, limit int64, bytewise bool) (stored string, m *messageWriter, rest string, err error) {
	t.Helper()
	var src io.Reader = strings.NewReader(raw)
	if bytewise {
		src = iotest.OneByteReader(src)
	}
	r := bufio.NewReaderSize(src, 16)
	var out bytes.Buffer
	m = newMessageWriter(&out, limit)
	err = readData(r, m)
	m.flush()
	left, _ := io.ReadAll(r)
	return out.String(), m, string(left), err
}

// reference says what RFC 5321 section 4.1.1.4 makes of raw, written
// apart from the state machine: the data ends at the first CRLF "." CRLF
// (the data starts after a line end), unless a CR without LF or an LF
// without CR comes first; lines lose one leading dot.
func reference(raw string) (stored, kind, rest string) {
	s := "\r\n" + raw
	end := strings.Index(s, "\r\n.\r\n")
	bare, bareKind := -1, ""
	for i := 2; i < len(s); i++ {
		if s[i] == '\r' && (i+1 >= len(s) || s[i+1] != '\n') {
			bare, bareKind = i, "bare CR"
			break
		}
		if s[i] == '\n' && s[i-1] != '\r' {
			bare, bareKind = i, "bare LF"
			break
		}
		if s[i] == '\n' && i >= 2 && s[i-1] == '\r' && s[i-2] == '\r' {
			// "\r\r\n": the first CR has no LF after it.
			bare, bareKind = i-2, "bare CR"
			break
		}
	}
	if bare >= 0 && (end < 0 || bare < end) {
		return "", bareKind, ""
	}
	if end < 0 {
		return "", "eof", ""
	}
	var b strings.Builder
	body := s[2 : end+2]
	for _, line := range strings.SplitAfter(body, "\r\n") {
		if line == "" {
			continue
		}
		line = strings.TrimSuffix(line, "\r\n")
		b.WriteString(strings.TrimPrefix(line, "."))
		b.WriteString("\n")
	}
	return b.String(), "end", s[end+5:]
}

// Every string of up to five bytes of CR, LF, "." and "x", after a line
// end and before the end of data, is read as RFC 5321 says, whole or a
// byte at a time, and nothing after the end of data is consumed.
func TestDataReaderAgreesWithRFC5321AroundLineStarts(t *testing.T) {
	alphabet := []string{"\r", "\n", ".", "x"}
	inputs := []string{""}
	for n := 1; n <= 5; n++ {
		var next []string
		for _, s := range inputs[len(inputs)-pow(4, n-1):] {
			for _, c := range alphabet {
				next = append(next, s+c)
			}
		}
		inputs = append(inputs, next...)
	}
	for _, body := range inputs {
		for _, prefix := range []string{"", "a\r\n"} {
			raw := prefix + body + "\r\n.\r\nNEXT"
			wantStored, wantKind, wantRest := reference(raw)
			for _, bytewise := range []bool{false, true} {
				stored, m, rest, err := readAll(t, raw, 1<<20, bytewise)
				kind := "end"
				switch {
				case err != nil:
					kind = "eof"
				case m.bareLF:
					kind = "bare LF"
				case m.bareCR:
					kind = "bare CR"
				}
				if kind != wantKind {
					t.Fatalf("%q (bytewise %v): %s, want %s", raw, bytewise, kind, wantKind)
				}
				if kind == "end" && (stored != wantStored || rest != wantRest) {
					t.Fatalf("%q (bytewise %v): stored %q, left %q; want %q, %q", raw, bytewise, stored, rest, wantStored, wantRest)
				}
			}
		}
	}
}

func pow(b, e int) int {
	n := 1
	for range e {
		n *= b
	}
	return n
}

// The cases the issue named, by name.
func TestDotCRIsABareCR(t *testing.T) {
	for _, raw := range []string{"a\r\n.\rX\r\n.\r\n", "a\r\n.\r\r\n.\r\n"} {
		if _, m, _, err := readAll(t, raw, 1<<20, false); err != nil || !m.bareCR {
			t.Errorf("%q: bareCR %v, err %v", raw, m.bareCR, err)
		}
	}
}

// go-smtp ended DATA only at CRLF.CRLF and dropped the dot of "\r\n.\n",
// handing on "\r\n\n": the bare LF is what is refused.
func TestSmugglingCRLFDotLF(t *testing.T) {
	_, m, rest, err := readAll(t, "a\r\n.\nMAIL FROM:<x@y>\r\n", 1<<20, false)
	if err != nil || !m.bareLF {
		t.Fatalf("bare LF after a dot: bareLF %v, err %v", m.bareLF, err)
	}
	if strings.Contains(rest, ".") {
		t.Fatalf("read on past the bare LF: left %q", rest)
	}
}

func TestSizeLimitCountsTheStoredForm(t *testing.T) {
	body := "12345678\r\n" // 9 bytes once stored
	if _, m, _, _ := readAll(t, body+".\r\n", 9, false); m.tooBig {
		t.Fatal("a message of exactly the limit was refused")
	}
	stored, m, rest, err := readAll(t, body+"x\r\n.\r\nQUIT\r\n", 9, false)
	if err != nil || !m.tooBig {
		t.Fatalf("a message over the limit: tooBig %v, err %v", m.tooBig, err)
	}
	if m.size != 11 || len(stored) != 9 || rest != "QUIT\r\n" {
		t.Fatalf("size %d, kept %d bytes, left %q: the rest must be read to the end of data and dropped", m.size, len(stored), rest)
	}
}

func TestHopCountReadsOnlyTheHeader(t *testing.T) {
	header := strings.Repeat("Received: x\r\n", 60) + strings.Repeat("delivered-to: y\r\n", 39) + "Received-SPF: z\r\n"
	if _, m, _, _ := readAll(t, header+"\r\nReceived: in body\r\n.\r\n", 1<<20, true); m.hops != 100 {
		t.Fatalf("hops = %d, want 100", m.hops)
	}
	if _, m, _, _ := readAll(t, "Receiv: x\r\nDeliver: y\r\n\r\n.\r\n", 1000, false); m.hops != 0 {
		t.Fatalf("short prefixes counted: %d", m.hops)
	}
}
