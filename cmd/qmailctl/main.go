// Command qmailctl administers a gqmail root: the qmail-users table
// (users import, export, show) and, later, the queue.
//
//	qmailctl --root DIR users import [--dry-run] FILE
//	qmailctl --root DIR users export
//	qmailctl --root DIR users show ADDRESS
//
// The root defaults to $GQMAIL_ROOT, else /var/qmail.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "qmailctl: fatal: %v\n", err)
		os.Exit(111)
	}
}

// app carries the global flags to the subcommands.
type app struct {
	root string
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:           "qmailctl",
		Short:         "administer a gqmail root",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := os.Getenv("GQMAIL_ROOT")
	if def == "" {
		def = "/var/qmail"
	}
	root.PersistentFlags().StringVar(&a.root, "root", def, "the gqmail root directory ($GQMAIL_ROOT)")
	root.AddCommand(a.usersCommand())
	return root
}
