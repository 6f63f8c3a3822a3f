package inject

import (
	"bufio"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// Lister is what list needs of the queue: envelopes in pages, and a
// message's recipients. *store.DB has both.
type Lister interface {
	List(after store.MsgID, limit int) ([]store.Envelope, error)
	Recipients(id store.MsgID) ([]store.RecipientState, error)
}

// listPage is how many messages one read transaction lists: the queue is
// read in short transactions, never one that a long listing holds open.
const listPage = 100

// list answers "list/2" for uid: every message with its recipients, then
// "end". A trusted uid (root, the daemon's account) sees the whole queue;
// anyone else sees only the messages they injected, and no local
// delivery's report, which is what another user's .qmail program said.
func (s *Server) list(w *bufio.Writer, uid int, trusted bool) error {
	l, ok := s.Queue.(Lister)
	if !ok {
		return frame.Write(w, []byte("end"))
	}
	after := store.MsgID(0)
	for {
		envs, err := l.List(after, listPage)
		if err != nil {
			return err
		}
		for _, e := range envs {
			after = e.ID
			if !trusted && (e.Origin.Kind != "local" || e.Origin.UID != uid) {
				continue
			}
			rs, err := l.Recipients(e.ID)
			if err != nil {
				continue // finished meanwhile
			}
			if err := frame.Write(w, []byte("msg"), frame.U64(uint64(e.ID)), frame.U64(uint64(e.Received.Unix())), frame.U64(uint64(e.Size)), []byte(e.Sender)); err != nil {
				return err
			}
			for _, r := range rs {
				next := uint64(0)
				if !r.Next.IsZero() && !r.Held {
					next = uint64(r.Next.Unix())
				}
				state := r.State.String()
				if r.Held {
					state = "held" // qmailctl queue hold: waiting, never tried until released
				}
				text := r.LastText
				if !trusted && r.Channel == route.Local && text != "" {
					text = "(the local delivery's report is in the daemon's log)"
				}
				if err := frame.Write(w, []byte("rcpt"), []byte(r.Address), []byte(r.Channel.String()), []byte(state),
					frame.U64(uint64(r.Attempts)), frame.U64(next), []byte(text)); err != nil {
					return err
				}
			}
		}
		if len(envs) < listPage {
			return frame.Write(w, []byte("end"))
		}
	}
}
