package localdeliver

import (
	"bytes"

	"github.com/gqmail/gqmail/internal/qlog"
)

// maxChildLogLine bounds one line of a child's stderr in the log, and
// maxChildLogLines the lines of one child: a child's own complaints are a
// few lines, and a user's program that writes into the pipe must not fill
// the log.
const (
	maxChildLogLine  = 1000
	maxChildLogLines = 100
)

// childLog is a delivery child's stderr. The child runs as a user, and a
// program of that user's can open the child's descriptors through /proc,
// so whatever arrives here is the user's words: each line is logged as a
// warning that names the uid, with unsafe bytes escaped, and never more
// than maxChildLogLine bytes of it.
type childLog struct {
	uid    int
	warn   func(format string, args ...any)
	line   []byte
	over   bool
	lines  int
	quiets bool // the "further lines dropped" line was logged
}

func (l *childLog) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.add(p)
			break
		}
		l.add(p[:i])
		l.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (l *childLog) add(p []byte) {
	room := maxChildLogLine - len(l.line)
	if len(p) > room {
		p, l.over = p[:room], true
	}
	l.line = append(l.line, p...)
}

func (l *childLog) flush() {
	if len(l.line) == 0 && !l.over {
		return
	}
	if l.lines++; l.lines > maxChildLogLines {
		if !l.quiets {
			l.quiets = true
			l.warn("delivery child for uid %d: more than %d lines on stderr; dropping the rest", l.uid, maxChildLogLines)
		}
		l.line, l.over = l.line[:0], false
		return
	}
	more := ""
	if l.over {
		more = "..."
	}
	l.warn("delivery child for uid %d: %s%s", l.uid, qlog.Safe(string(l.line)), more)
	l.line, l.over = l.line[:0], false
}
