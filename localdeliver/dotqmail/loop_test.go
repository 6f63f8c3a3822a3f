package dotqmail

import (
	"strings"
	"testing"
)

func TestIsLoop(t *testing.T) {
	const rcpt = "joe@example.org"
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"our line in the header is a loop", "Received: x\nDelivered-To: joe@example.org\nSubject: s\n\nbody\n", true},
		{"our line as the first header line is a loop", "Delivered-To: joe@example.org\n\nbody\n", true},
		{"our line only in the body is not a loop", "Subject: s\n\nDelivered-To: joe@example.org\n", false},
		{"another recipient's line is not a loop", "Delivered-To: ann@example.org\n\nbody\n", false},
		{"a different case is not byte-identical", "delivered-to: joe@example.org\n\n", false},
		{"a different address case is not byte-identical", "Delivered-To: Joe@example.org\n\n", false},
		{"extra spaces are not byte-identical", "Delivered-To:  joe@example.org\n\n", false},
		{"trailing text is not byte-identical", "Delivered-To: joe@example.org.\n\n", false},
		{"a CRLF line is not byte-identical", "Delivered-To: joe@example.org\r\n\r\n", false},
		{"a header without a body is still scanned", "X: y\nDelivered-To: joe@example.org\n", true},
		{"a last line without newline is not scanned, as in qmail", "X: y\nDelivered-To: joe@example.org", false},
		{"an empty message is not a loop", "", false},
		{"a header line longer than any buffer is passed over", "X: " + strings.Repeat("y", 20000) + "\nDelivered-To: joe@example.org\n\n", true},
		{"a long line that ends in our line is not our line", "X: " + strings.Repeat("y", 5000) + "Delivered-To: joe@example.org\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := IsLoop(strings.NewReader(tt.msg), rcpt); got != tt.want || err != nil {
				t.Errorf("IsLoop(%.60q, %q) = %v, %v; want %v", tt.msg, rcpt, got, err, tt.want)
			}
		})
	}
}

func TestIsLoopComparesWithTheDTLINEForm(t *testing.T) {
	if loop, _ := IsLoop(strings.NewReader("Delivered-To: a_b@c\n\n"), "a\nb@c"); !loop {
		t.Error("a newline in the recipient is not compared as _, as DTLINE writes it")
	}
}

func TestLoopIsPermanent(t *testing.T) {
	e := Loop()
	if !e.Permanent || e.Text != "This message is looping: it already has my Delivered-To line. (#5.4.6)" {
		t.Errorf("Loop() = %+v", e)
	}
}
