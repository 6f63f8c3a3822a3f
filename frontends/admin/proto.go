package admin

import (
	"fmt"
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// The frames' tags.
const (
	TagHello   = "admin/1"
	TagList    = "list/1"
	TagStat    = "stat/1"
	TagShow    = "show/1"
	TagChange  = "change/1"
	TagMsg     = "msg"
	TagRcpts   = "rcpts"
	TagData    = "data"
	TagEnd     = "end"
	TagStatRes = "stat"
	TagChanged = "changed"
	TagError   = "error"
)

// Bounds of the protocol.
const (
	// MaxRequest bounds a frame the server reads.
	MaxRequest = 1 << 20
	// MaxAnswer bounds a frame the client reads.
	MaxAnswer = 4 << 20
	// MaxIDs bounds the message ids of one change/1 request; the client
	// sends more in several.
	MaxIDs = 10000
	// PageMessages is how many messages one transaction reads or changes.
	PageMessages = 500
	// pageRecipients ends a page early once this many recipients are read.
	pageRecipients = 20000
	// rcptsPerFrame is how many recipients one rcpts frame carries.
	rcptsPerFrame = 200
	// dataChunk is the size of a data frame of show/1.
	dataChunk = 64 << 10
	// maxListedText bounds a recipient's last result in a listing; show
	// gives it whole.
	maxListedText = 2000
)

// The states of a recipient, as listings name them. Pending, deferred and
// held recipients are still in the queue (qmail-qread shows them without
// "done"); the others are done.
const (
	StatePending   = "pending"   // waiting, never tried
	StateDeferred  = "deferred"  // waiting after one or more attempts
	StateHeld      = "held"      // on hold: never tried until released
	StateDelivered = "delivered" // done
	StateFailed    = "failed"    // done; in the bounce
)

// Verbs of change/1.
const (
	VerbRetry   = "retry"
	VerbHold    = "hold"
	VerbRelease = "release"
	VerbDelete  = "delete"
	VerbBounce  = "bounce"
)

// Message is one queued message as listings show it, one JSON object per
// line in qmailctl queue list --json. Its field names are an interface:
// later versions add fields and never rename or remove one.
type Message struct {
	ID          uint64 `json:"id"`
	ArrivalTime int64  `json:"arrival_time"` // Unix seconds
	Sender      string `json:"sender"`       // "" for the null sender
	Size        int64  `json:"message_size"` // bytes
	Origin      Origin `json:"origin"`
	// Bouncing is set when a recipient failed and the bounce waits for
	// the others, as qmail-qread says "bouncing".
	Bouncing   bool        `json:"bouncing"`
	Recipients []Recipient `json:"recipients"`
}

// Origin says where a message came from.
type Origin struct {
	Kind     string `json:"kind"` // smtp, local, bounce, forward, pickup...
	RemoteIP string `json:"remote_ip,omitempty"`
	HELO     string `json:"helo,omitempty"`
	UID      int    `json:"uid"` // the injecting uid; -1 for none
}

// Recipient is one recipient of a listed message.
type Recipient struct {
	Address string `json:"address"`
	// DeliverTo is where the queue routed it (a virtual domain's prefix
	// added), when that differs from Address.
	DeliverTo   string `json:"deliver_to,omitempty"`
	Channel     string `json:"channel"` // local or remote
	State       string `json:"state"`   // pending, deferred, held, delivered, failed
	Attempts    int    `json:"attempts"`
	NextAttempt int64  `json:"next_attempt"` // Unix seconds; 0 when none is scheduled (held or done)
	LastResult  string `json:"last_result"`  // the last attempt's report, "" before any
}

// Waiting reports whether the recipient is still in the queue.
func (r Recipient) Waiting() bool {
	return r.State == StatePending || r.State == StateDeferred || r.State == StateHeld
}

// Stat is the answer of stat/1 (qmailctl queue stat --json).
type Stat struct {
	Messages int `json:"messages"`
	// NotPreprocessed is always 0: gqmail routes a message in the
	// transaction that accepts it. qmail-qstat's second line.
	NotPreprocessed int            `json:"messages_not_preprocessed"`
	Recipients      map[string]int `json:"recipients_by_state"` // pending, deferred, held, delivered, failed
	Channels        map[string]int `json:"waiting_by_channel"`  // local, remote: recipients still waiting
	OldestArrival   int64          `json:"oldest_arrival_time"` // Unix seconds; 0 for an empty queue
	OldestAge       int64          `json:"oldest_age_seconds"`  // at the time of the answer
	Bytes           int64          `json:"bytes"`               // the messages' sizes added up
}

// Counts is the answer of change/1: what was (or, in a dry run, would
// be) changed.
type Counts struct {
	Messages   int  `json:"messages"`
	Recipients int  `json:"recipients"`
	DryRun     bool `json:"dry_run"`
}

// Filter selects messages, and recipients of them. Empty fields select
// everything. Sender, IDs and OlderThan select messages; Rcpt, Domain
// and State select recipients, and a message with none of its
// recipients selected is left out. A change touches only the selected
// recipients (delete always takes whole messages).
type Filter struct {
	// All must be set to select every message with no other field set:
	// a change with nothing named changes nothing.
	All       bool     `json:"all,omitempty"`
	IDs       []uint64 `json:"ids"`              // nil: no id filter; empty: no message (not omitted, so the two differ on the wire)
	Sender    string   `json:"sender,omitempty"` // address, without case; "<>" for the null sender
	Rcpt      string   `json:"rcpt,omitempty"`   // address, without case
	Domain    string   `json:"domain,omitempty"` // a recipient's domain, without case
	State     string   `json:"state,omitempty"`  // pending, deferred or held
	OlderThan int64    `json:"older_than_seconds,omitempty"`
}

// Empty reports whether f names nothing at all.
func (f Filter) Empty() bool {
	return !f.All && f.IDs == nil && f.Sender == "" && f.Rcpt == "" && f.Domain == "" && f.State == "" && f.OlderThan == 0
}

// Check says what is wrong with f.
func (f Filter) Check() error {
	switch f.State {
	case "", StatePending, StateDeferred, StateHeld:
	default:
		return fmt.Errorf("state %q: want pending, deferred or held", f.State)
	}
	if f.OlderThan < 0 {
		return fmt.Errorf("older than %d seconds: want a duration of 0 or more", f.OlderThan)
	}
	if len(f.IDs) > MaxIDs {
		return fmt.Errorf("%d message ids in one request; at most %d", len(f.IDs), MaxIDs)
	}
	return nil
}

// rcptFilter reports whether f selects recipients by more than their
// message.
func (f Filter) rcptFilter() bool { return f.Rcpt != "" || f.Domain != "" || f.State != "" }

// matchMessage reports whether f selects the envelope of e at now.
func (f Filter) matchMessage(e *store.Envelope, now time.Time, ids map[uint64]bool) bool {
	if ids != nil && !ids[uint64(e.ID)] {
		return false
	}
	if f.Sender != "" {
		want := f.Sender
		if want == "<>" {
			want = ""
		}
		if !strings.EqualFold(want, e.Sender) {
			return false
		}
	}
	if f.OlderThan > 0 && now.Sub(e.Received) < time.Duration(f.OlderThan)*time.Second {
		return false
	}
	return true
}

// matchRecipient reports whether f selects r.
func (f Filter) matchRecipient(r *store.RecipientState) bool {
	if f.State != "" && stateOf(r) != f.State {
		return false
	}
	if f.Rcpt != "" && !strings.EqualFold(f.Rcpt, r.Address) {
		return false
	}
	if f.Domain != "" {
		at := strings.LastIndexByte(r.Address, '@')
		if at < 0 || address.Lower(r.Address[at+1:]) != address.Lower(f.Domain) {
			return false
		}
	}
	return true
}

// stateOf names r's state as listings do.
func stateOf(r *store.RecipientState) string {
	switch {
	case r.State == store.Delivered:
		return StateDelivered
	case r.State == store.Failed:
		return StateFailed
	case r.Held:
		return StateHeld
	case r.Attempts > 0:
		return StateDeferred
	}
	return StatePending
}

// messageOf makes the listing of e; full keeps the recipients' texts
// whole.
func messageOf(e *store.Entry, full bool) Message {
	m := Message{
		ID:          uint64(e.ID),
		ArrivalTime: e.Received.Unix(),
		Sender:      e.Sender,
		Size:        e.Size,
		Origin:      Origin{Kind: e.Origin.Kind, RemoteIP: e.Origin.RemoteIP, HELO: e.Origin.HELO, UID: e.Origin.UID},
		Recipients:  make([]Recipient, 0, len(e.Recipients)),
	}
	for i := range e.Recipients {
		r := &e.Recipients[i]
		rc := Recipient{
			Address:    r.Address,
			Channel:    channelName(r.Channel),
			State:      stateOf(r),
			Attempts:   r.Attempts,
			LastResult: r.LastText,
		}
		if r.Deliver != r.Address {
			rc.DeliverTo = r.Deliver
		}
		if r.State == store.Pending && !r.Held && !r.Next.IsZero() {
			rc.NextAttempt = r.Next.Unix()
		}
		if !full && len(rc.LastResult) > maxListedText {
			rc.LastResult = rc.LastResult[:maxListedText] + "..."
		}
		if r.State == store.Failed {
			m.Bouncing = true
		}
		m.Recipients = append(m.Recipients, rc)
	}
	return m
}

func channelName(ch route.Channel) string {
	if ch == route.Remote {
		return "remote"
	}
	return "local"
}
