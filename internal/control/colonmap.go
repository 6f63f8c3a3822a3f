package control

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// VirtualDomains is the parsed virtualdomains file. It is never modified once
// built. A nil *VirtualDomains has no entries.
type VirtualDomains struct {
	m map[string]string // lowercased key → prepend as written
}

// Lookup finds the entry for a recipient address, trying the whole address,
// its domain (the text after the last '@'), each '.' suffix of the domain
// longest first, and then the empty key. found with an empty prepend is an
// exception: the address is remote. With a prepend P the address is local
// and becomes P-address; that rewriting is the caller's.
func (v *VirtualDomains) Lookup(addr string) (prepend string, found bool) {
	if v == nil {
		return "", false
	}
	addr = address.Lower(addr)
	if p, ok := v.m[addr]; ok {
		return p, true
	}
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		for i := at + 1; i < len(addr); i++ {
			if i == at+1 || addr[i] == '.' {
				if p, ok := v.m[addr[i:]]; ok {
					return p, true
				}
			}
		}
	}
	p, ok := v.m[""]
	return p, ok
}

// Len returns the number of entries.
func (v *VirtualDomains) Len() int {
	if v == nil {
		return 0
	}
	return len(v.m)
}

func parseVirtualDomains(data []byte) (*VirtualDomains, *FileError) {
	m := map[string]string{}
	err := eachEntry(data, func(s string) error {
		key, prepend, err := splitColon(s)
		if err != nil {
			return err
		}
		if err := checkVirtualKey(key); err != nil {
			return err
		}
		m[address.Lower(key)] = prepend
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &VirtualDomains{m: m}, nil
}

// checkVirtualKey accepts "", a domain or .suffix, or user@domain.
func checkVirtualKey(key string) error {
	if key == "" {
		return nil
	}
	at := strings.LastIndexByte(key, '@')
	if at < 0 {
		return checkDomain(key, true)
	}
	if at == 0 {
		return fmt.Errorf("empty user in %q", key)
	}
	return checkDomain(key[at+1:], false)
}

// SMTPRoutes is the parsed smtproutes file. It is never modified once built.
// A nil *SMTPRoutes has no entries.
type SMTPRoutes struct {
	m map[string]route // lowercased key → route
}

type route struct {
	relay string // as written; empty means "use MX records"
	port  int    // 0 when not given
}

// Lookup finds the route for a host (the text after the recipient's last
// '@'), trying the host, each '.' suffix longest first, and then the empty
// key. port is 0 when the route gives none, meaning the SMTP port. found with
// an empty relay means: deliver by MX as if there were no route.
func (r *SMTPRoutes) Lookup(host string) (relay string, port int, found bool) {
	if r == nil {
		return "", 0, false
	}
	host = address.Lower(host)
	for i := 0; i < len(host); i++ {
		if i == 0 || host[i] == '.' {
			if rt, ok := r.m[host[i:]]; ok {
				return rt.relay, rt.port, true
			}
		}
	}
	rt, ok := r.m[""]
	return rt.relay, rt.port, ok
}

// Len returns the number of entries.
func (r *SMTPRoutes) Len() int {
	if r == nil {
		return 0
	}
	return len(r.m)
}

func parseSMTPRoutes(data []byte) (*SMTPRoutes, *FileError) {
	m := map[string]route{}
	err := eachEntry(data, func(s string) error {
		key, value, err := splitColon(s)
		if err != nil {
			return err
		}
		if key != "" {
			if err := checkDomain(key, true); err != nil {
				return err
			}
		}
		rt, err := parseRoute(value)
		if err != nil {
			return fmt.Errorf("%w in %q", err, s)
		}
		m[address.Lower(key)] = rt
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &SMTPRoutes{m: m}, nil
}

// parseRoute parses "", "relay" or "relay:port". Like qmail-remote it splits
// at the first ':', so a relay cannot be an IPv6 literal.
func parseRoute(value string) (route, error) {
	if value == "" {
		return route{}, nil
	}
	relay, portText, hasPort := strings.Cut(value, ":")
	if err := checkDomain(relay, false); err != nil {
		return route{}, fmt.Errorf("relay %w", err)
	}
	if !hasPort {
		return route{relay: relay}, nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil || strings.IndexFunc(portText, notDigit) >= 0 || port < 1 || port > 65535 {
		return route{}, fmt.Errorf("port not in 1..65535: %q", portText)
	}
	return route{relay: relay, port: port}, nil
}
