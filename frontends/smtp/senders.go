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
// maddy's authorize_sender rule in qmail's terms: addr is the login
// itself (a login that is an address), or a line of control/authsenders
// gives it to the login, or it is delivered to the login's own account
// (users/assign, the password file, virtual domains). The empty sender
// (a bounce, a vacation reply) is anyone's. An error is trouble asking
// the RecipientChecker.
func (ss *session) ownsAddress(addr string) (bool, error) {
	login := ss.login
	switch {
	case addr == "":
		return true, nil
	case strings.EqualFold(addr, login):
		return true, nil
	case ss.srv.Controls.AuthSenders().Allows(login, addr):
		return true, nil
	case ss.srv.Recipients == nil:
		return false, nil
	}
	account, err := ss.accountOf(addr)
	if err != nil || account == "" {
		return false, err
	}
	mine := login
	if strings.Contains(login, "@") {
		if mine, err = ss.accountOf(login); err != nil || mine == "" {
			return false, err
		}
	}
	return strings.EqualFold(account, mine), nil
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
	if ss.srv.AliasAccount != "" && strings.EqualFold(account, ss.srv.AliasAccount) {
		return "", nil
	}
	return account, nil
}

// errFromUnparsable is a From: field whose addresses cannot be read, so
// cannot be checked.
var errFromUnparsable = errors.New("the From: field cannot be parsed")

// checkFromHeader returns the first address of the From: fields the
// login may not use, or an error when they cannot be read. No From:
// field is nothing to check.
func (ss *session) checkFromHeader(fields []string) (string, error) {
	for _, f := range fields {
		list, err := mail.ParseAddressList(f)
		if err != nil {
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
