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

// MaxData is the largest data frame a client sends.
const MaxData = 64 << 10

// MaxFrame bounds any frame the server reads.
const MaxFrame = 1 << 20

// MaxRecipientBytes bounds the addresses of one message.
const MaxRecipientBytes = 16 << 20

// MaxAddress is SMTP's bound on an address (frontends/smtp): 900 bytes or
// more is refused.
const MaxAddress = 900

// GoodAddress is what SMTP takes: under 900 bytes, no CR, LF or NUL.
func GoodAddress(a string) bool {
	return len(a) < MaxAddress && !strings.ContainsAny(a, "\r\n\x00")
}
