package smtp

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/route"
)

// ownsAddress reports whether the authenticated login may send as addr,
// maddy's authorize_sender rule in qmail's terms. The empty sender (a
// bounce, a vacation reply) is anyone's, and a line of control/authsenders
// gives an address to a login. Beyond those:
//
//   - a login that is an address ("bob@example.org") owns itself and its
//     extensions ("bob-lists@example.org"), nothing more: every mailbox of
//     a virtual domain may be delivered to one account, and one of them
//     must not send as all the others;
//   - a login that is an account name ("alice") owns every address
//     delivered to that account (users/assign, the password file, virtual
//     domains mapped to it), except through the alias account.
//
// Addresses compare in ASCII lower case, as everywhere in qmail. An error
// is trouble asking the RecipientChecker.
func (ss *session) ownsAddress(addr string) (bool, error) {
	login := address.Lower(ss.login)
	addr = address.Lower(addr)
	switch {
	case addr == "":
		return true, nil
	case addr == login:
		return true, nil
	case ss.srv.Controls.AuthSenders().Allows(login, addr):
		return true, nil
	case strings.Contains(login, "@"):
		return isExtensionOf(addr, login), nil
	case ss.srv.Recipients == nil:
		return false, nil
	}
	account, err := ss.accountOf(addr)
	if err != nil || account == "" {
		return false, err
	}
	return address.Lower(account) == login, nil
}

// isExtensionOf reports whether addr is local-ext@domain for the address
// local@domain, qmail's extension with its "-" delimiter.
func isExtensionOf(addr, base string) bool {
	at := strings.LastIndexByte(base, '@')
	local, domain := base[:at], base[at:]
	return strings.HasSuffix(addr, domain) && strings.HasPrefix(addr, local+"-") && len(addr) > len(local)+1+len(domain)
}

// accountOf is the account a local address is delivered to, or "" when
// the address is not local or only the alias account takes it (mail no
// user owns is no one's own address).
func (ss *session) accountOf(addr string) (string, error) {
	if !strings.Contains(addr, "@") {
		return "", nil
	}
	rt := ss.srv.Router.Route(addr)
	if rt.Channel != route.Local {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	_, account, err := ss.srv.Recipients.CheckRecipient(ctx, address.Lower(rt.Deliver))
	if err != nil {
		return "", err
	}
	if ss.srv.AliasAccount != "" && address.Lower(account) == address.Lower(ss.srv.AliasAccount) {
		return "", nil
	}
	return account, nil
}

// errFromUnparsable is a From: field whose addresses cannot be read, so
// cannot be checked, or that holds no mailbox (an empty group, which RFC
// 5322 does not allow in From:).
var errFromUnparsable = errors.New("the From: field cannot be parsed")

// checkFromHeader returns the first address of the From: fields the
// login may not use, or an error when they cannot be read. No From:
// field is nothing to check.
func (ss *session) checkFromHeader(fields []string) (string, error) {
	for _, f := range fields {
		list, err := mail.ParseAddressList(f)
		if err != nil || len(list) == 0 {
			return "", errFromUnparsable
		}
		for _, a := range list {
			ok, err := ss.ownsAddress(a.Address)
			if err != nil {
				return "", err
			}
			if !ok {
				return a.Address, nil
			}
		}
	}
	return "", nil
}
