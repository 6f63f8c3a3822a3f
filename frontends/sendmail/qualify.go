package sendmail

import "github.com/gqmail/gqmail/internal/address"

// qualifier is qmail-inject's address rewriting (rwgeneric), from
// control/defaulthost, defaultdomain and plusdomain (each defaulting to
// me), or the QMAILDEFAULTHOST, QMAILDEFAULTDOMAIN and QMAILPLUSDOMAIN
// variables. The rules are address.Qualifier's, which dot-forward shares.
type qualifier struct {
	defaultHost, defaultDomain, plusDomain string
}

// address rewrites one envelope or header address (see
// address.Qualifier.Qualify).
func (q qualifier) address(a string) string {
	return address.Qualifier{DefaultHost: q.defaultHost, DefaultDomain: q.defaultDomain, PlusDomain: q.plusDomain}.Qualify(a)
}
