package admin

import (
	"fmt"
	"io"
	"time"

	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/qlog"
)

// WriteQread writes m as qmail-qread prints a message: a line with its
// arrival time, number, size and sender ("bouncing" after it when a
// recipient failed and the bounce waits for the others), then one line
// per recipient, channel and address, with "  done" in front of one that
// is done. A held recipient has "  held" in front, which a reader of
// qmail-qread's output takes for "not done". Unsafe bytes are shown as
// qmail's log shows them.
func WriteQread(w io.Writer, m *Message) error {
	bouncing := ""
	if m.Bouncing {
		bouncing = "bouncing"
	}
	if _, err := fmt.Fprintf(w, "%s  #%d  %d  <%s> %s\n", date822.Qread(time.Unix(m.ArrivalTime, 0)),
		m.ID, m.Size, qlog.Safe(m.Sender), bouncing); err != nil {
		return err
	}
	for _, r := range m.Recipients {
		mark := ""
		switch r.State {
		case StateDelivered, StateFailed:
			mark = "  done"
		case StateHeld:
			mark = "  held"
		}
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\n", mark, r.Channel, qlog.Safe(r.Address)); err != nil {
			return err
		}
	}
	return nil
}

// WriteQstat writes st as qmail-qstat does.
func WriteQstat(w io.Writer, st *Stat) error {
	_, err := fmt.Fprintf(w, "messages in queue: %d\nmessages in queue but not yet preprocessed: %d\n", st.Messages, st.NotPreprocessed)
	return err
}
