package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestQueueIDsAreReadFromNumbersAndJSONLines(t *testing.T) {
	cases := []struct {
		name, in string
		want     []uint64
		err      string
	}{
		{"numbers, several a line", "1 2\n#3\n\n", []uint64{1, 2, 3}, ""},
		{"the JSON lines of list --json", `{"id":7,"sender":"a@b"}` + "\n" + `{"id":9}` + "\n", []uint64{7, 9}, ""},
		{"a word that is no id", "1\nfoo\n", nil, "line 2"},
		{"zero is no id", "0\n", nil, "line 1"},
		{"an object without an id", `{"sender":"x"}`, nil, "without a message id"},
		{"nothing", "", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readIDs(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one naming %q", err, c.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestOlderThanTakesDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "-1h", "d", "3days"} {
		if _, err := parseAge(bad); err == nil {
			t.Errorf("parseAge(%q) took it", bad)
		}
	}
}

func FuzzReadIDs(f *testing.F) {
	f.Add("1 2\n#3\n")
	f.Add(`{"id":7}` + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		ids, err := readIDs(strings.NewReader(in))
		if err == nil {
			for _, id := range ids {
				if id == 0 {
					t.Fatalf("id 0 taken from %q", in)
				}
			}
		}
	})
}

func TestControlEscaperKeepsLinesAndTabs(t *testing.T) {
	var b bytes.Buffer
	w := controlEscaper{&b}
	w.Write([]byte("Subject: \x1b]2;owned\x07\x1b[2J\r\n\tfolded\x7f\n"))
	if got := b.String(); got != "Subject: ?]2;owned??[2J?\n\tfolded?\n" {
		t.Fatalf("escaped %q", got)
	}
}

// What the queue writer (an account that may be hostile) prints reaches
// root's terminal escaped, bounded, and drained.
func TestRelayEscapedBoundsTheChild(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("ok\n\x1b[2Jclear\x07\n")
	for range 150 {
		in.WriteString("again\n")
	}
	in.WriteString(strings.Repeat("x", 2<<20) + "\n")
	var out bytes.Buffer
	relayEscaped(&out, &in, 999)
	got := out.String()
	if !strings.HasPrefix(got, "qmailctl: queue writer (uid 999): ok\nqmailctl: queue writer (uid 999): ?[2Jclear?\n") {
		t.Fatalf("relayed:\n%.200s", got)
	}
	if strings.Count(got, "\n") != maxChildLines+1 || !strings.HasSuffix(got, "more lines dropped\n") {
		t.Fatalf("%d lines relayed, tail %q", strings.Count(got, "\n"), got[len(got)-60:])
	}
	if in.Len() != 0 {
		t.Fatalf("%d bytes left unread", in.Len())
	}
}
