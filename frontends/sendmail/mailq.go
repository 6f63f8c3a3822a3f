package sendmail

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/qlog"
)

// Mailq lists the queue, as qmail-qread does (sendmail -bp, mailq), from
// the running daemon: for each message its arrival, number, size and
// sender, then each recipient by channel, "done" when it is, and, for one
// still waiting after an attempt, its attempts, next try and last error.
func Mailq(env *Env) int {
	list, err := submission.List(context.Background(), env.paths().Socket)
	if err != nil {
		fmt.Fprintf(env.Stderr, "mailq: fatal: unable to reach the gqmail daemon at %s: %v\n", env.paths().Socket, err)
		return 111
	}
	w := bufio.NewWriter(env.Stdout)
	defer w.Flush()
	for _, m := range list {
		fmt.Fprintf(w, "%s  #%d  %d  <%s>\n", date822.Qread(m.Received), m.ID, m.Size, qlog.Safe(m.Sender))
		for _, r := range m.Recipients {
			mark := "  done"
			switch r.State {
			case "pending":
				mark = ""
			case "held": // as qmailctl queue list shows it
				mark = "  held"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", mark, r.Channel, qlog.Safe(r.Address))
			switch {
			case r.State == "pending" && r.Attempts > 0:
				fmt.Fprintf(w, "\t\t%d attempts, next %s: %s\n", r.Attempts, r.Next.UTC().Format(time.DateTime), qlog.Readable(r.LastText))
			case r.State == "held" && r.Attempts > 0:
				fmt.Fprintf(w, "\t\t%d attempts, held: %s\n", r.Attempts, qlog.Readable(r.LastText))
			}
		}
	}
	return 0
}
