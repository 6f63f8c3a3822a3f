package engine

import (
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// ExpandVERP gives the envelope sender for one delivery, as qmail-send
// does: a VERP sender "pre@host-@[]" delivering to "box@dom" becomes
// "prebox=dom@host", so each recipient's bounce names it. Other senders,
// and recipients without "@", leave the sender as it is.
func ExpandVERP(sender, recipient string) string {
	base, ok := strings.CutSuffix(sender, address.VERPSuffix)
	if !ok {
		return sender
	}
	at := strings.LastIndexByte(recipient, '@')
	if at < 0 {
		return sender
	}
	pre, host := base, ""
	if i := strings.LastIndexByte(base, '@'); i >= 0 {
		pre, host = base[:i], base[i+1:]
	}
	return pre + recipient[:at] + "=" + recipient[at+1:] + "@" + host
}
