package control

import "github.com/gqmail/gqmail/internal/address"

// DomainSet is a set of domains from locals, rcpthosts or morercpthosts,
// stored in ASCII lower case. The zero value is the empty set. A DomainSet is
// never modified once built, so it may be shared.
type DomainSet struct {
	m map[string]struct{}
}

// Contains reports whether domain is in the set, ignoring ASCII case. Entries
// starting with '.' are matched only literally: this is the locals lookup.
func (s DomainSet) Contains(domain string) bool {
	_, ok := s.m[address.Lower(domain)]
	return ok
}

// MatchRcptHost reports whether a recipient domain (the text after the
// recipient's last '@') is accepted by the set, as rcpthosts does: the whole
// domain, then every suffix starting at a '.', so ".heaven.af.mil" matches
// "x.heaven.af.mil" but not "heaven.af.mil".
//
// Unlike qmail, a domain that starts with '.' is never accepted: qmail's
// loop lets ".heaven.af.mil" itself match the wildcard entry, but no host
// has an empty first label, and such a recipient can only bounce.
func (s DomainSet) MatchRcptHost(domain string) bool {
	if domain == "" || domain[0] == '.' {
		return false
	}
	domain = address.Lower(domain)
	for i := 0; i < len(domain); i++ {
		if i == 0 || domain[i] == '.' {
			if _, ok := s.m[domain[i:]]; ok {
				return true
			}
		}
	}
	return false
}

// Len returns the number of entries.
func (s DomainSet) Len() int { return len(s.m) }

// union returns a set holding the entries of both.
func union(a, b DomainSet) DomainSet {
	m := make(map[string]struct{}, len(a.m)+len(b.m))
	for k := range a.m {
		m[k] = struct{}{}
	}
	for k := range b.m {
		m[k] = struct{}{}
	}
	return DomainSet{m: m}
}

// singleDomain returns the set holding only domain, or the empty set when
// domain is empty: an empty entry would make "user@" local.
func singleDomain(domain string) DomainSet {
	if domain == "" {
		return DomainSet{}
	}
	return DomainSet{m: map[string]struct{}{address.Lower(domain): {}}}
}
