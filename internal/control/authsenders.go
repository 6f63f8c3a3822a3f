package control

import (
	"errors"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// AuthSenders is the parsed authsenders file: for each SMTP AUTH login,
// the envelope senders it may use beyond its own addresses. It is never
// modified once built; a nil *AuthSenders allows nothing.
//
// A line is "login:address" or "login:@domain" (every address at the
// domain); a login may have many lines. Logins and addresses are compared
// in ASCII lower case.
type AuthSenders struct {
	m map[string][]string
}

// Allows reports whether login may send as sender.
func (a *AuthSenders) Allows(login, sender string) bool {
	if a == nil {
		return false
	}
	sender = address.Lower(sender)
	at := strings.LastIndexByte(sender, '@')
	for _, e := range a.m[address.Lower(login)] {
		if e == sender || (at >= 0 && e == sender[at:]) {
			return true
		}
	}
	return false
}

func parseAuthSenders(data []byte) (*AuthSenders, *FileError) {
	m := map[string][]string{}
	err := eachEntry(data, func(s string) error {
		login, addr, err := splitColon(s)
		if err != nil {
			return err
		}
		switch {
		case login == "":
			return errors.New("empty login before the colon")
		case addr == "" || addr == "@":
			return errors.New("no address after the colon")
		}
		login = address.Lower(login)
		m[login] = append(m[login], address.Lower(addr))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &AuthSenders{m: m}, nil
}
