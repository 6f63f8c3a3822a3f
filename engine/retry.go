package engine

import (
	"math"
	"time"

	"github.com/gqmail/gqmail/internal/route"
)

// chanskip is qmail-send's per-channel step of the retry schedule.
func chanskip(ch route.Channel) int64 {
	if ch == route.Remote {
		return 20
	}
	return 10
}

// NextRetry is qmail-send's retry schedule: the next attempt after one made
// at now of a message queued at birth is at
//
//	birth + (⌊√(now − birth)⌋ + chanskip)²  seconds
//
// with chanskip 10 for local and 20 for remote deliveries, so attempts made
// on time fall at birth + (10k)² or (20k)² seconds, and late ones shift the
// schedule.
func NextRetry(ch route.Channel, birth, now time.Time) time.Time {
	age := int64(now.Sub(birth) / time.Second)
	if age < 0 {
		age = 0
	}
	root := isqrt(age)
	step := root + chanskip(ch)
	return birth.Add(time.Duration(step*step) * time.Second)
}

// isqrt returns ⌊√n⌋ exactly, without trusting float rounding.
func isqrt(n int64) int64 {
	r := int64(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// Expired reports whether a message queued at birth has outlived lifetime
// at now. qmail-send decides this when an attempt starts, so an expired
// message still gets that one last attempt.
func Expired(birth, now time.Time, lifetime time.Duration) bool {
	return now.Sub(birth) > lifetime
}
