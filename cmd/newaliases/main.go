// Command newaliases imports /etc/aliases into the aliases table of a
// gqmail root, as sendmail's and fastforward's newaliases rebuild theirs:
//
//	newaliases [--root DIR] [--dry-run] [FILE]
//
// FILE defaults to $GQMAIL_ALIASES, else /etc/aliases. It is exactly
// "qmailctl aliases import FILE": every bad line is reported with its
// number and the table is left as it was, else the table is replaced in
// one step. The root defaults to $GQMAIL_ROOT, else /var/qmail. Exit
// codes are qmail's: 0; 100 for a usage error; 111 for a bad file (as
// qmail-newu) or trouble reading or writing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/localdeliver/aliases"
)

// defaultFile is where sendmail keeps its aliases.
const defaultFile = "/etc/aliases"

func main() {
	fs := flag.NewFlagSet("newaliases", flag.ContinueOnError)
	root := fs.String("root", cli.DefaultRoot(), cli.RootHelp)
	dryRun := fs.Bool("dry-run", false, "check the file, change nothing")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(cli.ExitOK)
		}
		os.Exit(cli.ExitPermanent)
	}
	if *version {
		fmt.Println(cli.Version("newaliases"))
		os.Exit(cli.ExitOK)
	}
	file := os.Getenv("GQMAIL_ALIASES")
	if file == "" {
		file = defaultFile
	}
	switch fs.NArg() {
	case 0:
	case 1:
		file = fs.Arg(0)
	default:
		fmt.Fprintln(os.Stderr, "newaliases: usage: newaliases [--root DIR] [--dry-run] [FILE]")
		os.Exit(cli.ExitPermanent)
	}
	p := layout.For(*root)
	if err := layout.Check(p); err != nil {
		fmt.Fprintf(os.Stderr, "newaliases: fatal: %v\n", err)
		os.Exit(cli.ExitTemporary)
	}
	err := aliases.Import(os.Stdout, file, aliases.Path(p), *dryRun)
	var bad *aliases.Error
	switch {
	case err == nil:
		os.Exit(cli.ExitOK)
	case errors.As(err, &bad):
		fmt.Fprintf(os.Stderr, "newaliases: nothing changed:\n%v\n", err)
		os.Exit(cli.ExitTemporary)
	default:
		fmt.Fprintf(os.Stderr, "newaliases: fatal: %v\n", err)
		os.Exit(cli.ExitTemporary)
	}
}
