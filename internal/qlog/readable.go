package qlog

import "strings"

// Readable puts a remote server's report on one line of a terminal, for
// the queue listings (mailq, qmailctl queue): its lines joined with
// " / ", other control bytes and bytes past ASCII shown as '?', so that
// no reply can move the cursor or clear the screen of whoever reads it.
// Unlike Safe, it keeps spaces, which a reader of a terminal wants.
func Readable(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var b strings.Builder
	for i, line := range lines {
		if i > 0 {
			b.WriteString(" / ")
		}
		for _, c := range []byte(strings.TrimRight(line, "\r")) {
			if c < ' ' || c > '~' {
				c = '?'
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}
