package smtp

import (
	"context"
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/route"
)

// RecipientChecker answers whether a local address has a mailbox, and
// whose account it reaches. The daemon's asks the root helper, which
// looks as delivery would (users/assign, the password file, .qmail-ext
// and -default files, the alias account); the network-facing process
// cannot read homes.
type RecipientChecker interface {
	// CheckRecipient takes the address the local channel would deliver
	// to (after virtualdomains, as route.Route gives it). An error is
	// trouble asking; the recipient is then accepted, as qmail would.
	CheckRecipient(ctx context.Context, deliver string) (exists bool, account string, err error)
}

// checkTimeout bounds one question to the RecipientChecker.
const checkTimeout = 10 * time.Second

// unknownRecipient is the reply to an address no mailbox accepts, in
// qmail's words for the bounce it would otherwise send.
const unknownRecipient = "550 sorry, no mailbox here by that name (#5.1.1)"

// isPostmaster reports whether addr is postmaster, with or without a
// domain: RFC 5321 requires it be accepted, whatever else is refused.
func isPostmaster(addr string) bool {
	local := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local = addr[:at]
	}
	return strings.EqualFold(local, "postmaster")
}

// verifyRecipient returns the refusal for addr when it is at a local
// domain and nothing would accept it, else "".
func (ss *session) verifyRecipient(addr string) string {
	if ss.srv.Recipients == nil || !ss.srv.Config.VerifyLocalRecipients || isPostmaster(addr) {
		return ""
	}
	rt := ss.srv.Router.Route(addr)
	if rt.Channel != route.Local {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	exists, _, err := ss.srv.Recipients.CheckRecipient(ctx, address.Lower(rt.Deliver))
	cancel()
	if err != nil {
		ss.srv.Log.Warning("smtp %d: unable to check the recipient %q, accepting it: %v", ss.p.session, addr, err)
		return ""
	}
	if !exists {
		return unknownRecipient
	}
	return ""
}
