package localdeliver

import (
	"fmt"
	"strings"
	"testing"
)

// A child's stderr, which a user's program can write into, reaches the
// log as escaped lines naming the uid, cut at 1000 bytes, at most 100 of
// them.
func TestChildLogIsEscapedCutAndBounded(t *testing.T) {
	w := &warnings{}
	l := &childLog{uid: 1234, warn: w.add}
	l.Write([]byte("first\x1b[31m line\nsecond " + strings.Repeat("x", 5000) + "\n"))
	for i := range 500 {
		fmt.Fprintf(l, "flood %d\n", i)
	}
	got := strings.Split(w.String(), "\n")
	if got[0] != "delivery child for uid 1234: first_[31m_line" {
		t.Fatalf("first line %q", got[0])
	}
	if len(got[1]) > 1100 || !strings.HasSuffix(got[1], "...") {
		t.Fatalf("a long line was logged with %d bytes", len(got[1]))
	}
	if len(got) != maxChildLogLines+1 || !strings.Contains(got[len(got)-1], "dropping the rest") {
		t.Fatalf("%d lines logged, last %q", len(got), got[len(got)-1])
	}
}
