package submission

import "strings"

// The frames' tags.
const (
	TagHello  = "hello/3"
	TagSubmit = "submit/3"
	TagData   = "data"
	TagRcpt   = "rcpt"
	TagCommit = "commit"
	TagAbort  = "abort"
	TagResult = "result/2"
	TagList   = "list/2"
)

// What a submission says it is, in its "submit/3" frame.
const (
	KindLocal = "local" // injected on this machine
	KindSMTP  = "smtp"  // received by SMTP (qmaild smtpd, a trusted uid)
)

// MaxData is the largest data frame a client sends.
const MaxData = 64 << 10

// MaxFrame bounds any frame the server reads.
const MaxFrame = 1 << 20

// MaxRecipientBytes bounds what the recipients of one message cost: each
// is charged its length and RecipientOverhead.
const MaxRecipientBytes = 16 << 20

// RecipientOverhead is what a recipient costs the daemon beyond its
// bytes, charged against MaxRecipientBytes so that empty or one-byte
// addresses cannot make a message's recipients cost more than the budget.
const RecipientOverhead = 64

// MaxRecipients bounds the recipients of one local submission. qmail sets
// no bound; this one leaves room for a large mailing list and bounds what
// one message costs the daemon to route and list (about 20 MB).
const MaxRecipients = 100000

// MaxAddress is SMTP's bound on an address (frontends/smtp): 900 bytes or
// more is refused.
const MaxAddress = 900

// GoodAddress is what SMTP takes: under 900 bytes, no CR, LF or NUL.
func GoodAddress(a string) bool {
	return len(a) < MaxAddress && !strings.ContainsAny(a, "\r\n\x00")
}
