// Command qmailctl administers a gqmail root: the qmail-users table
// (users import, export, show), the aliases table, the SMTP AUTH
// passwords, the links that put sendmail and qmail's commands where
// software looks for them, the queue (queue.go), .forward conversion, and
// the move from a qmail installation.
//
//	qmailctl [--root DIR] queue list|stat|show|retry|hold|release|delete|bounce ...
//	qmailctl [--root DIR] users import [--dry-run] FILE
//	qmailctl [--root DIR] users export
//	qmailctl [--root DIR] users show ADDRESS
//	qmailctl [--root DIR] aliases import [--dry-run] FILE | check | export | show ADDRESS
//	qmailctl [--root DIR] passwd set [--hash] LOGIN | delete LOGIN | import [--dry-run] FILE | list
//	qmailctl [--root DIR] forward convert [--dry-run] HOME...
//	qmailctl [--root DIR] migrate [control|users|queue|all] [--from DIR] [--dry-run] [--force]
//	qmailctl [--root DIR] install-links [--force] [--bindir DIR] [--destdir DIR]
//	qmailctl --version
//
// The root defaults to $GQMAIL_ROOT, else /var/qmail, as for qmaild; a
// directory that is not a gqmail root is refused, naming what is missing.
// Exit codes are qmail's: 0, 100 for a usage error or a permanent answer
// (users show of an address that would bounce), 111 for a failure or a
// temporary answer.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/layout"
)

func main() {
	err := newRoot().Execute()
	var usage usageError
	var exit exitError
	switch {
	case err == nil:
		os.Exit(cli.ExitOK)
	case errors.As(err, &exit):
		os.Exit(exit.code)
	case errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintf(os.Stderr, "qmailctl: usage: %v (qmailctl --help)\n", err)
		os.Exit(cli.ExitPermanent)
	default:
		fmt.Fprintf(os.Stderr, "qmailctl: fatal: %v\n", err)
		os.Exit(cli.ExitTemporary)
	}
}

// usageError is a command line qmailctl cannot take.
type usageError struct{ error }

// exitError ends qmailctl with code, having said what it had to.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// args checks a command's arguments as cobra's check does, as a usage
// error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// needSubcommand is the RunE of a command that only groups others: any
// use of it alone is a usage error.
func needSubcommand(cmd *cobra.Command, argv []string) error {
	if len(argv) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %q", argv[0], cmd.CommandPath())}
	}
	cmd.SetOut(os.Stderr)
	cmd.Help()
	return usageError{fmt.Errorf("%q needs one of its commands", cmd.CommandPath())}
}

// app carries the global flags to the subcommands.
type app struct {
	root string
}

// paths returns the root's layout, once it is known to be a gqmail root.
func (a *app) paths() (layout.Paths, error) {
	p := layout.For(a.root)
	return p, layout.Check(p)
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:           "qmailctl",
		Short:         "administer a gqmail root",
		Version:       cli.Version("qmailctl"),
		RunE:          needSubcommand,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&a.root, "root", cli.DefaultRoot(), cli.RootHelp)
	root.AddCommand(a.usersCommand(), a.installLinksCommand(), a.passwdCommand())
	root.AddCommand(a.forwardCommand())
	root.AddCommand(a.queueCommand())
	root.AddCommand(a.aliasesCommand())
	root.AddCommand(a.migrateCommand())
	return root
}

// terminalSafe returns w, or, when w is a terminal, a writer that turns
// every control byte but newline and tab into '?': text from outside
// (a message's header from a remote client, a user's .forward) must not
// drive the administrator's terminal.
func terminalSafe(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return w
	}
	return controlEscaper{w}
}

type controlEscaper struct{ w io.Writer }

func (e controlEscaper) Write(p []byte) (int, error) {
	q := make([]byte, len(p))
	for i, c := range p {
		if (c < ' ' && c != '\n' && c != '\t') || c == 0x7f {
			c = '?'
		}
		q[i] = c
	}
	if _, err := e.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}
