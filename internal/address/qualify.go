package address

import "strings"

// Qualifier is qmail-inject's address rewriting (rwgeneric), which
// newaliases and dot-forward share: DefaultHost, DefaultDomain and
// PlusDomain come from control/defaulthost, defaultdomain and plusdomain
// (each defaulting to control/me), or whatever the caller takes instead
// (qmail-inject's QMAILDEFAULTHOST, ...). No DNS is asked.
type Qualifier struct {
	DefaultHost, DefaultDomain, PlusDomain string
}

// Qualify rewrites one address, in qmail-inject's order:
//
//  1. "" and "x@[]" stay as they are;
//  2. a source route ("@a,@b:box@dom") is dropped;
//  3. a trailing "." goes, then a trailing "@";
//  4. without "@", "@" and DefaultHost are added;
//  5. a host ending in "+" loses the "+" and gets "." and PlusDomain;
//  6. a host with no dot, not a [literal], gets "." and DefaultDomain.
//
// Steps 5 and 6 apply to DefaultHost too.
func (q Qualifier) Qualify(a string) string {
	if a == "" || strings.HasSuffix(a, "@[]") {
		return a
	}
	if strings.HasPrefix(a, "@") {
		i := strings.IndexByte(a, ':')
		if i < 0 {
			return ""
		}
		a = a[i+1:]
	}
	a = strings.TrimSuffix(a, ".")
	a = strings.TrimSuffix(a, "@")
	if a == "" {
		return ""
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a + "@" + q.host(q.DefaultHost)
	}
	return a[:at+1] + q.host(a[at+1:])
}

// host is steps 5 and 6 for one host name.
func (q Qualifier) host(h string) string {
	if strings.HasPrefix(h, "[") {
		return h
	}
	if strings.HasSuffix(h, "+") {
		return strings.TrimSuffix(h, "+") + "." + q.PlusDomain
	}
	if !strings.Contains(h, ".") {
		return h + "." + q.DefaultDomain
	}
	return h
}
