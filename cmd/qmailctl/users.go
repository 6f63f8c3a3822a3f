package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gqmail/gqmail/migrate"
	"github.com/gqmail/gqmail/store"
)

func (a *app) usersCommand() *cobra.Command {
	imp := importLeaf("replace the table with a qmail users/assign file (- for stdin)",
		`Reads a file in qmail's users/assign format (=local:user:uid:gid:home:dash:ext:
and +prefix:user:uid:gid:home:dash:ext: lines, ended by a "." line), checks every
line, and replaces the table with it in one step: a lookup sees the old table or
the new one, never a mixture. If any line is bad, every bad line is reported with
its number and nothing is changed. --dry-run only checks.`,
		a.usersImport)
	exp := leaf(&cobra.Command{
		Use:   "export",
		Short: "print the table in users/assign format",
		Args:  cobra.NoArgs,
	}, func(out io.Writer, _ []string) error {
		return a.usersExport(out)
	})
	show := leaf(&cobra.Command{
		Use:   "show ADDRESS",
		Short: "say who would receive mail for ADDRESS and which .qmail file they would read",
		Long: `Says what local delivery would do for ADDRESS, as qmail-local -n does.
Exits 0 when the mail would be delivered (or sent on), 100 when it would
bounce and 111 when it would be deferred.`,
		Args: cobra.ExactArgs(1),
	}, func(out io.Writer, argv []string) error {
		return a.usersShow(out, argv[0])
	})
	return group(&cobra.Command{
		Use:   "users",
		Short: "the qmail-users assignment table (users/assign.db)",
	}, imp, exp, show)
}

func (a *app) usersImport(out io.Writer, file string, dryRun bool) error {
	r, name, closeInput, err := openInput(file)
	if err != nil {
		return err
	}
	defer closeInput()
	entries, err := migrate.ParseAssign(bufio.NewReaderSize(r, 1<<16), name)
	if err != nil {
		return fmt.Errorf("nothing changed:\n%w", err)
	}
	if dryRun {
		fmt.Fprintf(out, "%s: %d assignments, all good; nothing changed (--dry-run)\n", name, len(entries))
		return nil
	}
	p, err := a.paths()
	if err != nil {
		return err
	}
	path := p.Assign
	if err := store.WriteAssignTable(path, entries); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d assignments imported into %s\n", name, len(entries), path)
	return nil
}

func (a *app) usersExport(out io.Writer) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	tab := store.OpenAssignTable(p.Assign)
	defer tab.Close()
	entries, err := tab.Entries()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	if err := migrate.FormatAssign(w, entries); err != nil {
		return err
	}
	return w.Flush()
}
