// Package date822 is qmail's date822fmt: the date of Date and Received
// header lines, "26 Sep 1995 04:46:54 -0000", in UTC, the day not
// zero-padded, no weekday.
package date822

import "time"

// Format writes t in qmail's header date form.
func Format(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04:05 -0000") }

// Qread writes t as qmail-qread lists a message's arrival:
// "26 Sep 1995 04:46:54 GMT", in UTC.
func Qread(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04:05") + " GMT" }
