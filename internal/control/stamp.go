package control

import "time"

// stamp identifies one version of a file without reading it. Two looks at a
// file with equal stamps saw the same content, unless the file was changed
// twice within its timestamp granularity, which recent guards against.
type stamp struct {
	absent bool   // the file did not exist
	err    string // stat or open failed with this error
	dev    uint64
	ino    uint64
	size   int64
	mode   uint32
	mtime  int64 // nanoseconds since the epoch
	ctime  int64
}

// recent reports whether the version was changed so shortly before now (or,
// with a skewed clock, after it) that a later change could keep the stamp.
func (s stamp) recent(now time.Time) bool {
	limit := now.Add(-racyWindow).UnixNano()
	return s.mtime >= limit || s.ctime >= limit
}
