package date822

import (
	"testing"
	"time"
)

func TestFormatIsQmailsDate822fmt(t *testing.T) {
	at := time.Date(1995, 9, 26, 6, 46, 54, 0, time.FixedZone("CEST", 2*3600))
	if got := Format(at); got != "26 Sep 1995 04:46:54 -0000" {
		t.Fatalf("Format = %q", got)
	}
	if got := Format(time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC)); got != "2 Dec 2026 01:02:03 -0000" {
		t.Fatalf("a one-digit day: %q", got)
	}
}

func TestQreadIsQmailQreadsArrival(t *testing.T) {
	at := time.Date(1995, 9, 26, 6, 46, 54, 0, time.FixedZone("CEST", 2*3600))
	if got := Qread(at); got != "26 Sep 1995 04:46:54 GMT" {
		t.Fatalf("Qread = %q", got)
	}
}
