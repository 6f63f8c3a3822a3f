package localdeliver

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"strings"
	"syscall"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/aliases"
	"github.com/gqmail/gqmail/localdeliver/dotqmail"
	"github.com/gqmail/gqmail/store"
)

// Identity says who delivers mail for one address and which .qmail file
// they read, as qmail-lspawn and qmail-getpw decide it.
type Identity struct {
	// Assignment is the user, ids, home and .qmail name parts.
	store.Assignment
	// Local and Domain are the recipient split at its last "@".
	Local  string
	Domain string
	// Source says what decided: "users/assign", "passwd", "alias" (a
	// .qmail file of the alias account) or "aliases" (the aliases table).
	Source string
	// Alias is the alias of the aliases table that holds the address,
	// when Source is "aliases". The delivery then runs Lines, the alias's
	// targets as .qmail lines, as the alias account (Assignment), instead
	// of a .qmail file, with Owner (owner-NAME@domain, or "") as the
	// envelope sender.
	Alias *aliases.Alias
	Lines []byte
	Owner string
}

// Resolver maps addresses to identities: the assignment table first, then
// the password file, then the alias user: its specific .qmail file if it
// has one, else the aliases table, else its .qmail-default.
type Resolver struct {
	Assign *store.AssignTable
	// Aliases is the aliases table; nil when there is none.
	Aliases *aliases.Table
	// LookupUser finds an account by name; os/user.Lookup when nil.
	LookupUser func(name string) (*user.User, error)
	// AliasUser is the account for addresses no user owns; "alias" when
	// empty.
	AliasUser string
}

// errNoUser is what LookupUser's callers treat as "no such account".
var errNoUser = errors.New("no such user")

func (r *Resolver) lookupUser(name string) (*user.User, error) {
	lookup := r.LookupUser
	if lookup == nil {
		lookup = user.Lookup
	}
	u, err := lookup(name)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return nil, errNoUser
	}
	return u, err
}

// maxUserName is qmail-getpw's bound: account names are shorter.
const maxUserName = 32

// Resolve finds the identity for recipient. The errors it returns are
// *outcome.Error with qmail-lspawn's texts.
func (r *Resolver) Resolve(recipient string) (Identity, error) {
	at := strings.LastIndexByte(recipient, '@')
	if at < 0 {
		return Identity{}, outcome.Permanent("Sorry, address must include host name. (#5.1.3)")
	}
	local, domain := recipient[:at], recipient[at+1:]
	id := Identity{Local: local, Domain: domain}
	if r.Assign != nil {
		a, ok, err := r.Assign.Lookup(local)
		if err != nil {
			return Identity{}, outcome.TemporaryErr(err, "Trouble reading users/assign.db: %v. (#4.3.0)", err)
		}
		if ok {
			id.Assignment = a
			id.Source = "users/assign"
			return checkRoot(id)
		}
	}
	if err := r.getpw(&id); err != nil {
		return Identity{}, err
	}
	return checkRoot(id)
}

func checkRoot(id Identity) (Identity, error) {
	if id.UID == 0 {
		return Identity{}, outcome.Temporary("Not allowed to perform deliveries as root. (#4.3.0)")
	}
	return id, nil
}

// getpw is qmail-getpw: try the whole local part and then each prefix
// ending before a "-", longest first, as a lowercased account name; take
// the first account that is not root and owns an existing home. If none
// does, the alias user gets the address with the whole local part as its
// extension.
func (r *Resolver) getpw(id *Identity) error {
	local := id.Local
	for end := len(local); end > 0; end = strings.LastIndexByte(local[:end], '-') {
		name := local[:end]
		if len(name) >= maxUserName {
			continue
		}
		u, err := r.lookupUser(address.Lower(name))
		if errors.Is(err, errNoUser) {
			continue
		}
		if err != nil {
			return outcome.TemporaryErr(err, "Temporary failure in qmail-lspawn: looking up user %q: %v. (#4.3.0)", address.Lower(name), err)
		}
		uid, gid, err := ids(u)
		if err != nil {
			return outcome.TemporaryErr(err, "Temporary failure in qmail-lspawn: %v. (#4.3.0)", err)
		}
		if uid == 0 {
			continue
		}
		owner, err := homeOwner(u.HomeDir)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return outcome.TemporaryErr(err, "NFS failure in qmail-local: %v. (#4.3.0)", err)
		}
		if owner != uid {
			continue
		}
		id.User, id.UID, id.GID, id.Home, id.Source = u.Username, uid, gid, u.HomeDir, "passwd"
		if end == len(local) {
			id.Dash, id.Ext = "", ""
		} else {
			id.Dash, id.Ext = "-", local[end+1:]
		}
		return nil
	}
	alias := r.AliasUser
	if alias == "" {
		alias = "alias"
	}
	u, err := r.lookupUser(alias)
	if errors.Is(err, errNoUser) {
		return outcome.Temporary("Unable to find alias user! (#4.3.0)")
	}
	if err != nil {
		return outcome.TemporaryErr(err, "Temporary failure in qmail-lspawn: looking up user %q: %v. (#4.3.0)", alias, err)
	}
	uid, gid, err := ids(u)
	if err != nil {
		return outcome.TemporaryErr(err, "Temporary failure in qmail-lspawn: %v. (#4.3.0)", err)
	}
	id.User, id.UID, id.GID, id.Home, id.Dash, id.Ext = u.Username, uid, gid, u.HomeDir, "-", local
	id.Source = "alias"
	return r.lookupAlias(id)
}

// lookupAlias consults the aliases table for an address that reached the
// alias account, where fastforward behind ~alias/.qmail-default would:
// only when the account's own lookup would come to .qmail-default or to
// nothing. A specific ~alias/.qmail-NAME (or a .qmail-NAME-default) comes
// first, as it does for qmail. The helper is root here, so the home is
// looked at with lstat alone (presenceFS), as the recipient check does.
func (r *Resolver) lookupAlias(id *Identity) error {
	if r.Aliases == nil {
		return nil
	}
	// The home first: an address with its own ~alias file never depends
	// on the table, not even on its being readable.
	t, err := dotqmail.Find(presenceFS{home: id.Home}, id.Dash, id.Ext)
	if err != nil {
		return err
	}
	if t.Name != "" && t.Name != ".qmail-default" {
		return nil
	}
	a, ok, err := r.Aliases.Lookup(id.Local, id.Domain)
	if err != nil {
		return outcome.TemporaryErr(err, "Trouble reading users/aliases.db: %v. (#4.3.0)", err)
	}
	if !ok {
		return nil
	}
	id.Alias, id.Source = a, "aliases"
	id.Lines, id.Owner = a.Lines(id.Domain), a.OwnerAddress(id.Domain)
	return nil
}

func ids(u *user.User) (uid, gid int, err error) {
	o, err := layout.OwnerOf(u.Username, u.Uid, u.Gid)
	if err != nil {
		return 0, 0, err
	}
	return o.UID, o.GID, nil
}

func homeOwner(home string) (int, error) {
	fi, err := os.Stat(home)
	if err != nil {
		return 0, err
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid), nil
}
