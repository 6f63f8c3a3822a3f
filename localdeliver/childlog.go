package localdeliver

import (
	"bytes"

	"github.com/gqmail/gqmail/internal/qlog"
)

// maxChildLogLine bounds one line of a child's stderr in the log.
const maxChildLogLine = 1000

// childLog is a delivery child's stderr. The child runs as a user, and a
// program of that user's can open the child's descriptors through /proc,
// so whatever arrives here is the user's words: each line is logged as a
// warning that names the uid, with unsafe bytes escaped, and never more
// than maxChildLogLine bytes of it.
type childLog struct {
	uid  int
	warn func(format string, args ...any)
	line []byte
	over bool
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
	more := ""
	if l.over {
		more = "..."
	}
	l.warn("delivery child for uid %d: %s%s", l.uid, qlog.Safe(string(l.line)), more)
	l.line, l.over = l.line[:0], false
}
