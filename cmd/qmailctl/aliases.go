package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/localdeliver"
	"github.com/gqmail/gqmail/localdeliver/aliases"
	"github.com/gqmail/gqmail/store"
)

func (a *app) aliasesCommand() *cobra.Command {
	imp := importLeaf("replace the table with a sendmail /etc/aliases file (- for stdin)",
		`Reads an /etc/aliases file with fastforward's newaliases syntax (name: recipient, ...;
continuation lines, comments, |program, /file, :include:/file, owner-NAME), checks
every line, and replaces the table with it in one step: a lookup sees the old table
or the new one. If any line is bad (a syntax error, a duplicate name, a loop, an
include file that cannot be read or is unsafe), every bad line is reported with its
number and nothing is changed. --dry-run only checks.`,
		a.aliasesImport)
	exp := leaf(&cobra.Command{
		Use:   "export",
		Short: "print the table in aliases syntax",
		Args:  cobra.NoArgs,
	}, func(out io.Writer, _ []string) error {
		return a.aliasesExport(out)
	})
	check := leaf(&cobra.Command{
		Use:   "check",
		Short: "say which :include: files changed since the import",
		Long: `Compares each :include: file the table recorded (path, size, mtime, SHA-256) with
the file now at its path. Exits 0 when none changed, 100 when one did (the table
still holds what the file held at import: run the import again).`,
		Args: cobra.NoArgs,
	}, func(out io.Writer, _ []string) error {
		return a.aliasesCheck(out)
	})
	show := leaf(&cobra.Command{
		Use:   "show ADDRESS",
		Short: "say what ADDRESS expands to",
		Long: `Says whether delivery would take ADDRESS from the aliases table (a user, or a
specific ~alias/.qmail file, comes first) and what it expands to, following
addresses that are aliases in turn. Exits 0 when ADDRESS is an alias that delivery
uses, 100 when it is not, 111 on trouble.`,
		Args: cobra.ExactArgs(1),
	}, func(out io.Writer, argv []string) error {
		return a.aliasesShow(out, argv[0])
	})
	return group(&cobra.Command{
		Use:   "aliases",
		Short: "the sendmail-style aliases table (users/aliases.db)",
	}, imp, exp, check, show)
}

func (a *app) aliasesImport(out io.Writer, file string, dryRun bool) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	return importAliases(out, file, aliases.Path(p), dryRun)
}

// aliasTable opens the root's aliases table, once the root is known to
// be a gqmail root.
func (a *app) aliasTable() (*aliases.Table, error) {
	p, err := a.paths()
	if err != nil {
		return nil, err
	}
	return aliases.OpenTable(aliases.Path(p)), nil
}

func (a *app) aliasesExport(out io.Writer) error {
	tab, err := a.aliasTable()
	if err != nil {
		return err
	}
	defer tab.Close()
	parsed, err := tab.Parsed()
	if err != nil {
		return err
	}
	return aliases.Format(out, parsed)
}

func (a *app) aliasesCheck(out io.Writer) error {
	tab, err := a.aliasTable()
	if err != nil {
		return err
	}
	defer tab.Close()
	changes, err := tab.Check()
	if err != nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(out, "%s: %s since the import\n", ch.Path, ch.Why)
	}
	if len(changes) > 0 {
		return exitError{cli.ExitPermanent}
	}
	fmt.Fprintln(out, "include files: unchanged since the import")
	return nil
}

// importAliases is the import, with qmailctl's wording of a bad file.
func importAliases(out io.Writer, file, table string, dryRun bool) error {
	err := aliases.Import(out, file, table, dryRun)
	var bad *aliases.Error
	if errors.As(err, &bad) {
		return fmt.Errorf("nothing changed:\n%w", err)
	}
	return err
}

func (a *app) aliasesShow(out io.Writer, address string) error {
	p, cfg, err := a.rootConfig()
	if err != nil {
		return err
	}
	assign := store.OpenAssignTable(p.Assign)
	defer assign.Close()
	tab := aliases.OpenTable(aliases.Path(p))
	defer tab.Close()
	s := &aliasShower{
		out:    out,
		router: &route.Router{Controls: control.Open(p.Control, nil)},
		r:      &localdeliver.Resolver{Assign: assign, Aliases: tab, AliasUser: cfg.Users.Alias},
		seen:   map[string]bool{},
	}
	isAlias, err := s.show(address, "")
	if err != nil {
		return verdict(out, err)
	}
	if !isAlias {
		return exitError{cli.ExitPermanent}
	}
	return nil
}

type aliasShower struct {
	out    io.Writer
	router *route.Router
	r      *localdeliver.Resolver
	seen   map[string]bool
}

// maxShowDepth bounds how deep show follows aliases into aliases.
const maxShowDepth = 20

// show prints what address expands to, indented, and says whether it is
// an alias.
func (s *aliasShower) show(address, indent string) (bool, error) {
	rc := s.router.Route(address)
	if rc.Channel == route.Remote {
		fmt.Fprintf(s.out, "%s%s: remote\n", indent, address)
		return false, nil
	}
	id, err := s.r.Resolve(rc.Deliver)
	if err != nil {
		return false, err
	}
	if id.Alias == nil {
		fmt.Fprintf(s.out, "%s%s: not an alias: delivered to %s (from %s)\n", indent, address, id.User, id.Source)
		return false, nil
	}
	al := id.Alias
	fmt.Fprintf(s.out, "%s%s: alias %q (line %d), delivered as %s (uid %d) in %s\n", indent, address, al.Name, al.Line, id.User, id.UID, id.Home)
	if id.Owner != "" {
		fmt.Fprintf(s.out, "%s  sender: %s\n", indent, id.Owner)
	}
	s.seen[strings.ToLower(rc.Deliver)] = true
	for _, line := range strings.Split(strings.TrimSuffix(string(id.Lines), "\n"), "\n") {
		switch line[0] {
		case '|':
			fmt.Fprintf(s.out, "%s  program %s\n", indent, line[1:])
		case '/':
			fmt.Fprintf(s.out, "%s  mbox %s\n", indent, line)
		case '&':
			fmt.Fprintf(s.out, "%s  forward %s\n", indent, line[1:])
			next := line[1:]
			if s.seen[strings.ToLower(next)] || len(indent) >= 2*maxShowDepth {
				continue
			}
			if _, err := s.show(next, indent+"    "); err != nil {
				fmt.Fprintf(s.out, "%s    %s: %v\n", indent, next, err)
			}
		}
	}
	return true, nil
}
