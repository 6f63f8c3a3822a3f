package store

import "sync/atomic"

// budget is a number of bytes shared by many holders, taken without
// waiting: a holder that finds no room does something else (a Spool goes
// to a file).
type budget struct {
	limit int64
	used  atomic.Int64
}

// take takes n bytes and reports whether there was room for them.
func (b *budget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes taken before.
func (b *budget) give(n int64) { b.used.Add(-n) }
