package dotqmail

import "testing"

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsLoop([]byte(tt.msg), rcpt); got != tt.want {
				t.Errorf("IsLoop(%q, %q) = %v, want %v", tt.msg, rcpt, got, tt.want)
			}
		})
	}
}

func TestIsLoopComparesWithTheDTLINEForm(t *testing.T) {
	if !IsLoop([]byte("Delivered-To: a_b@c\n\n"), "a\nb@c") {
		t.Error("a newline in the recipient is not compared as _, as DTLINE writes it")
	}
}

func TestLoopIsPermanent(t *testing.T) {
	e := Loop()
	if !e.Permanent || e.Text != "This message is looping: it already has my Delivered-To line. (#5.4.6)" {
		t.Errorf("Loop() = %+v", e)
	}
}
