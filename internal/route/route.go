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
// The queue (store) calls Route once per recipient when it accepts a
// message and stores the decision with the recipient, so a later change to
// locals or virtualdomains does not move mail already queued, as in qmail.
package route

import (
	"fmt"
	"strings"

	"github.com/gqmail/gqmail/internal/control"
)

// Channel is the way a recipient is delivered.
type Channel uint8

const (
	Local  Channel = 1
	Remote Channel = 2
)

func (c Channel) String() string {
	switch c {
	case Local:
		return "local"
	case Remote:
		return "remote"
	}
	return fmt.Sprintf("channel(%d)", uint8(c))
}

// Route is where a recipient goes.
type Route struct {
	// Deliver is the address the channel delivers to: for a virtual
	// domain it carries the virtualdomains prefix ("joe-info@example.org").
	Deliver string
	Channel Channel
}

// Router routes recipients using the live control files.
type Router struct {
	Controls *control.Dir
}

// Route returns where the recipient addr goes.
func (r *Router) Route(addr string) Route {
	full := addr
	if !strings.Contains(full, "@") {
		full += "@" + r.Controls.EnvNoAtHost()
	}
	domain := full[strings.LastIndexByte(full, '@')+1:]
	if r.Controls.Locals().Contains(domain) {
		return Route{Deliver: full, Channel: Local}
	}
	if prefix, ok := r.Controls.VirtualDomains().Lookup(full); ok && prefix != "" {
		return Route{Deliver: prefix + "-" + full, Channel: Local}
	}
	return Route{Deliver: full, Channel: Remote}
}

// IsLocal reports whether mail for domain is delivered here: it is in
// control/locals, or control/virtualdomains maps it to a prefix.
func (r *Router) IsLocal(domain string) bool {
	return r.Route("postmaster@"+domain).Channel == Local
}
