package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/layout"
)

// What every qmailctl command shares, so that a command's file says only
// its help and what it does:
//   - a command that groups others is, used alone or with a command it
//     does not have, a usage error (group);
//   - a command that does something has its arguments checked as a usage
//     error and writes to its standard output (leaf), and may take
//     --dry-run (dryRunLeaf);
//   - a table's import is "import [--dry-run] FILE", FILE - for stdin,
//     and --dry-run only checks the file (importLeaf, openInput).

// group makes cmd, which carries only its help, a command that groups
// subs.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.RunE = needSubcommand
	cmd.AddCommand(subs...)
	return cmd
}

// leaf makes cmd, which carries only its help and the arguments it takes
// (cmd.Args), run run with its standard output and arguments. Arguments
// cmd.Args refuses are a usage error.
func leaf(cmd *cobra.Command, run func(out io.Writer, argv []string) error) *cobra.Command {
	if cmd.Args != nil {
		cmd.Args = args(cmd.Args)
	}
	cmd.RunE = func(c *cobra.Command, argv []string) error {
		return run(c.OutOrStdout(), argv)
	}
	return cmd
}

// dryRunLeaf is leaf for a command that takes --dry-run, which help
// describes; run is told whether it was given.
func dryRunLeaf(cmd *cobra.Command, help string, run func(out io.Writer, argv []string, dryRun bool) error) *cobra.Command {
	var dryRun bool
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, help)
	return leaf(cmd, func(out io.Writer, argv []string) error {
		return run(out, argv, dryRun)
	})
}

// importLeaf makes a table's import command with its short and long help;
// run gets the file named (- for stdin) and whether to only check it.
func importLeaf(short, long string, run func(out io.Writer, file string, dryRun bool) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import [--dry-run] FILE",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
	}
	return dryRunLeaf(cmd, "check the file, change nothing", func(out io.Writer, argv []string, dryRun bool) error {
		return run(out, argv[0], dryRun)
	})
}

// openInput opens the file an import reads: "-" is stdin. It returns the
// reader, the name errors give it, and what closes it.
func openInput(file string) (r io.Reader, name string, closeFn func(), err error) {
	if file == "-" {
		return os.Stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, "", nil, err
	}
	return f, file, func() { f.Close() }, nil
}

// rootConfig returns the root's layout and its qmail.toml (the defaults
// where there is none), once the root is known to be a gqmail root.
func (a *app) rootConfig() (layout.Paths, *config.Config, error) {
	p, err := a.paths()
	if err != nil {
		return p, nil, err
	}
	cfg, err := loadConfig(p)
	return p, cfg, err
}
