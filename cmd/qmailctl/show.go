package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/localdeliver"
	"github.com/gqmail/gqmail/localdeliver/aliases"
	"github.com/gqmail/gqmail/localdeliver/dotqmail"
	"github.com/gqmail/gqmail/store"
)

// usersShow says what local delivery would do for an address: qmail-getpw's
// answer (from the table, the password file or the alias user) and
// qmail-local's choice of .qmail file with the instructions in it, like
// "qmail-local -n".
func (a *app) usersShow(out io.Writer, address string) error {
	p, cfg, err := a.rootConfig()
	if err != nil {
		return err
	}
	controls := control.Open(p.Control, nil)
	rc := (&route.Router{Controls: controls}).Route(address)
	fmt.Fprintf(out, "address: %s\n", address)
	if rc.Channel == route.Remote {
		fmt.Fprintf(out, "channel: remote (%s is not a local or virtual domain)\n", rc.Deliver)
		return nil
	}
	if rc.Deliver != address {
		fmt.Fprintf(out, "delivered as: %s\n", rc.Deliver)
	}
	tab := store.OpenAssignTable(p.Assign)
	defer tab.Close()
	aliasTable := aliases.OpenTable(aliases.Path(p))
	defer aliasTable.Close()
	r := &localdeliver.Resolver{Assign: tab, Aliases: aliasTable, AliasUser: cfg.Users.Alias}
	id, err := r.Resolve(rc.Deliver)
	if err != nil {
		return verdict(out, err)
	}
	fmt.Fprintf(out, "user: %s\nuid: %d\ngid: %d\nhome: %s\ndash: %q\next: %q\nfrom: %s\n",
		id.User, id.UID, id.GID, id.Home, id.Dash, id.Ext, id.Source)
	if id.Alias != nil {
		// The aliases table decides: its lines, run as the alias account.
		fmt.Fprintf(out, "alias: %s (users/aliases.db)\n", id.Alias.Name)
		if owner := id.Alias.OwnerAddress(id.Domain); owner != "" {
			fmt.Fprintf(out, "owner: %s\n", owner)
		}
		out.Write(id.Alias.Lines(id.Domain))
		return nil
	}
	if err := os.Chdir(id.Home); err != nil {
		return verdict(out, outcome.TemporaryErr(err, "Unable to switch to %s: %v. (#4.3.0)", id.Home, err))
	}
	target, err := dotqmail.Find(dotqmail.OS{}, id.Dash, id.Ext)
	if err != nil {
		return verdict(out, err)
	}
	switch {
	case target.Name == "" && id.Dash != "":
		fmt.Fprintln(out, "dot-qmail: none")
	case target.Name == "":
		fmt.Fprintf(out, "dot-qmail: none, so the default delivery %s\n", cfg.Delivery.DefaultDelivery)
	case target.UsesDefault():
		fmt.Fprintf(out, "dot-qmail: %s (empty, so the default delivery %s)\n", target.Name, cfg.Delivery.DefaultDelivery)
	default:
		fmt.Fprintf(out, "dot-qmail: %s\n", target.Name)
	}
	if target.HasDefault {
		fmt.Fprintf(out, "DEFAULT: %s\n", target.Default)
	}
	instrs, err := target.Instructions(id.Dash, cfg.Delivery.DefaultDelivery)
	if err != nil {
		return verdict(out, err)
	}
	for _, in := range instrs {
		fmt.Fprintf(out, "%s %s\n", in.Kind, in.Value)
	}
	return nil
}

// verdict says what err makes of the delivery, and ends qmailctl with
// qmail's exit code for it: 100 for a bounce, 111 for a deferral.
func verdict(out io.Writer, err error) error {
	fmt.Fprintf(out, "delivery: %s: %s\n", outcome.Of(err), outcome.Text(err))
	if outcome.IsPermanent(err) {
		return exitError{cli.ExitPermanent}
	}
	return exitError{cli.ExitTemporary}
}

// loadConfig reads qmail.toml, or takes the defaults for a root that has
// none yet.
func loadConfig(p layout.Paths) (*config.Config, error) {
	def := config.Defaults(os.Geteuid() == 0)
	if _, err := os.Stat(p.Config); errors.Is(err, fs.ErrNotExist) {
		return &def, nil
	}
	return config.Load(p.Config, def)
}
