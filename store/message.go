package store

import (
	"fmt"
	"time"

	"github.com/gqmail/gqmail/internal/route"
)

// MsgID identifies a queued message. IDs increase and are never reused by
// one database file.
type MsgID uint64

// State is where a recipient is in its life.
type State uint8

const (
	// Pending recipients are waiting for their next attempt.
	Pending State = 1
	// Delivered recipients are done; the delivery succeeded.
	Delivered State = 2
	// Failed recipients are done; the delivery failed permanently (or the
	// message outlived the queue lifetime) and the sender gets a bounce.
	Failed State = 3
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Origin says where a message came from.
type Origin struct {
	// RemoteIP is the SMTP peer's address, empty for local injection.
	RemoteIP string
	// HELO is the name the SMTP peer gave.
	HELO string
	// UID is the injecting user's uid for local injection, -1 otherwise.
	UID int
	// Kind names the source for the log: "smtp", "local", "bounce", "forward".
	Kind string
}

// Recipient is one envelope recipient of a queued message: the address as
// the sender gave it (bounces and logs show this one), and where the queue
// routed it when it accepted the message (route.Route's Deliver and
// Channel).
type Recipient struct {
	Address string
	route.Route
}

// NewMessage is a message to be queued.
type NewMessage struct {
	Sender string
	// Recipients are the addresses as the sender gave them. The queue
	// routes each once (Options.Route) and queues a mailbox given more
	// than once (see mailboxKey) only once.
	Recipients []string
	Origin     Origin
	// Body is the whole message, header and body, with LF line ends. It
	// is used when Spool is nil.
	Body []byte
	// Spool, when set, holds the message instead of Body. The queue
	// takes it over: once the call that was given it returns, it has
	// been accepted or discarded.
	Spool *Spool

	// The fields below are for imports from another queue (package
	// migrate); everything else leaves them zero.

	// Received, when not zero, is kept as the arrival time instead of
	// the time of Accept: the retry schedule and the queue lifetime
	// count from a message's birth. The recipients are due at once all
	// the same.
	Received time.Time
	// Routes, when not nil, is the route of each of Recipients (same
	// length, same order), decided when the message was first queued
	// (by qmail-send): Options.Route is not asked, so an address that
	// already carries a virtualdomains prefix does not get a second one.
	Routes []route.Route
	// ImportKey, when not empty, names the message in the queue it was
	// imported from. Accept records it in the same transaction as the
	// message, and queues nothing when the key is already recorded: it
	// returns the id of the earlier import instead (see Imported).
	ImportKey string
}

// size is the message's length in bytes.
func (m *NewMessage) size() int64 {
	if m.Spool != nil {
		return m.Spool.Size()
	}
	return int64(len(m.Body))
}

// Ref names one recipient of one message.
type Ref struct {
	Msg   MsgID
	Index uint32
}

func (r Ref) String() string { return fmt.Sprintf("%d/%d", r.Msg, r.Index) }

// Envelope is a queued message's envelope as stored.
type Envelope struct {
	ID         MsgID
	Sender     string
	Origin     Origin
	Received   time.Time
	Size       int64
	Recipients int
	// Open counts the recipients still pending.
	Open int
	// BodyFile names the body's file under queue/bodies/, for a body
	// larger than InlineMax; empty when the body is in the database.
	BodyFile string
}

// RecipientState is a queued recipient as stored.
type RecipientState struct {
	Ref
	Recipient
	State    State
	Attempts int
	// Next is the time of the next attempt (pending recipients only).
	Next time.Time
	// LastText is the report of the last attempt, if any.
	LastText string
	// Held is set on a pending recipient that the administrator put on
	// hold: it is out of the due index, so it is neither tried nor
	// expired until it is released.
	Held bool
}

// Job is a due recipient with what a channel needs to deliver it.
type Job struct {
	Ref
	Sender    string
	Recipient Recipient
	Attempts  int
	Received  time.Time
	Size      int64
}
