package engine

import (
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/route"
)

func TestRetryScheduleMatchesQmailSend(t *testing.T) {
	birth := time.Unix(1_000_000, 0)
	cases := []struct {
		name string
		ch   route.Channel
		age  int64
		next int64
	}{
		{"first local retry after 100 s", route.Local, 0, 100},
		{"second local retry at 400 s", route.Local, 100, 400},
		{"local retry after 1h is 4900 s", route.Local, 3600, 4900},
		{"first remote retry after 400 s", route.Remote, 0, 400},
		{"then 1600 s", route.Remote, 400, 1600},
		{"then 3600 s", route.Remote, 1600, 3600},
		{"a late attempt shifts the schedule", route.Remote, 500, 1764},
		{"last local slot inside a week", route.Local, 577600, 592900},
		{"after a week the next slot is 7d1h", route.Remote, 577600, 608400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := NextRetry(c.ch, birth, birth.Add(time.Duration(c.age)*time.Second))
			if want := birth.Add(time.Duration(c.next) * time.Second); !got.Equal(want) {
				t.Fatalf("NextRetry at age %d = +%v, want +%ds", c.age, got.Sub(birth), c.next)
			}
		})
	}
}

func TestAttemptCountsInsideAWeek(t *testing.T) {
	// qmail-send makes 78 local and 39 remote attempts inside 604800 s
	// when every attempt is on time (attempt 0 included).
	birth := time.Unix(0, 0)
	for _, c := range []struct {
		ch   route.Channel
		want int
	}{{route.Local, 78}, {route.Remote, 39}} {
		n, at := 0, birth
		for at.Sub(birth) < 604800*time.Second {
			n++
			at = NextRetry(c.ch, birth, at)
		}
		if n != c.want {
			t.Errorf("%v: %d attempts in a week, want %d", c.ch, n, c.want)
		}
	}
}

func TestIsqrtIsExact(t *testing.T) {
	for n := int64(0); n < 100000; n++ {
		r := isqrt(n)
		if r*r > n || (r+1)*(r+1) <= n {
			t.Fatalf("isqrt(%d) = %d", n, r)
		}
	}
}
