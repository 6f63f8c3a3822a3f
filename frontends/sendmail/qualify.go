package sendmail

import "strings"

// qualifier is qmail-inject's address rewriting (rwgeneric), from
// control/defaulthost, defaultdomain and plusdomain (each defaulting to
// me), or the QMAILDEFAULTHOST, QMAILDEFAULTDOMAIN and QMAILPLUSDOMAIN
// variables. No DNS is asked.
type qualifier struct {
	defaultHost, defaultDomain, plusDomain string
}

// address rewrites one envelope or header address, in qmail-inject's
// order:
//
//  1. "" and "x@[]" stay as they are;
//  2. a source route ("@a,@b:box@dom") is dropped;
//  3. a trailing "." goes, then a trailing "@";
//  4. without "@", "@" and defaulthost are added;
//  5. a host ending in "+" loses the "+" and gets "." and plusdomain;
//  6. a host with no dot, not a [literal], gets "." and defaultdomain.
//
// Steps 5 and 6 apply to defaulthost too.
func (q qualifier) address(a string) string {
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
		return a + "@" + q.host(q.defaultHost)
	}
	return a[:at+1] + q.host(a[at+1:])
}

// host is steps 5 and 6 for one host name.
func (q qualifier) host(h string) string {
	if strings.HasPrefix(h, "[") {
		return h
	}
	if strings.HasSuffix(h, "+") {
		return strings.TrimSuffix(h, "+") + "." + q.plusDomain
	}
	if !strings.Contains(h, ".") {
		return h + "." + q.defaultDomain
	}
	return h
}
