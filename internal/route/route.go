// Package route decides, once, when a message is queued, which channel
// each recipient goes to and what address that channel delivers to, as
// qmail-send does when it preprocesses a message:
//
//  1. an address without "@" gets "@" and control/envnoathost;
//  2. a domain listed in control/locals goes to the local channel as is;
//  3. else control/virtualdomains is searched (the whole address, the
//     domain, each ".suffix" longest first, the empty key): a hit with a
//     prefix P sends "P-address" to the local channel, a hit with an empty
//     prefix is an exception and goes remote;
//  4. everything else goes to the remote channel.
//
// The decision is stored with the recipient, so a later change to locals
// or virtualdomains does not move mail already queued, as in qmail.
package route

import (
	"strings"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/store"
)

// Router classifies recipients using the live control files.
type Router struct {
	Controls *control.Dir
}

// Classify returns the queued form of the recipient addr.
func (r *Router) Classify(addr string) store.Recipient {
	full := addr
	if !strings.Contains(full, "@") {
		full += "@" + r.Controls.EnvNoAtHost()
	}
	domain := full[strings.LastIndexByte(full, '@')+1:]
	if r.Controls.Locals().Contains(domain) {
		return store.Recipient{Address: addr, Deliver: full, Channel: store.Local}
	}
	if prefix, ok := r.Controls.VirtualDomains().Lookup(full); ok && prefix != "" {
		return store.Recipient{Address: addr, Deliver: prefix + "-" + full, Channel: store.Local}
	}
	return store.Recipient{Address: addr, Deliver: full, Channel: store.Remote}
}

// IsLocal reports whether mail for domain is delivered here: it is in
// control/locals, or control/virtualdomains maps it to a prefix.
func (r *Router) IsLocal(domain string) bool {
	return r.Classify("postmaster@"+domain).Channel == store.Local
}
