package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/links"
)

func (a *app) installLinksCommand() *cobra.Command {
	var force bool
	var bindir, destdir string
	cmd := &cobra.Command{
		Use:   "install-links [--force] [--bindir DIR] [--destdir DIR]",
		Short: "link sendmail, mailq, qmail-inject, qmail-queue and forward where software looks for them",
		Long: `Makes symbolic links to the commands in --bindir (by default the directory
qmailctl itself is in):

  /usr/sbin/sendmail, /usr/lib/sendmail    -> sendmail
  /usr/bin/mailq                           -> mailq
  ROOT/bin/{sendmail,mailq,qmail-inject,qmail-queue,forward}

A path that is already a gqmail command (by its build information) is
replaced; anything else, such as another MTA's sendmail, is left alone and
named, and qmailctl exits 100 when it left something. With --force such a
file is kept as PATH` + links.SavedSuffix + ` and the link made. --destdir puts
every path under a staging directory, as a package build does.

Run as root, it links nothing if any link, or any command it would link
to, lies where another user could change it: a directory not root's, or
writable by others (a sticky one such as /tmp only for root's entries).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.installLinks(cmd.OutOrStdout(), bindir, destdir, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace files that are not gqmail's, keeping each as PATH"+links.SavedSuffix)
	cmd.Flags().StringVar(&bindir, "bindir", "", "where the commands are (default: qmailctl's own directory)")
	cmd.Flags().StringVar(&destdir, "destdir", "", "a staging directory to put every link under")
	return cmd
}

func (a *app) installLinks(out io.Writer, bindir, destdir string, force bool) error {
	if bindir == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding qmailctl's directory: %w (give --bindir)", err)
		}
		if self, err = filepath.EvalSymlinks(self); err != nil {
			return fmt.Errorf("finding qmailctl's directory: %w (give --bindir)", err)
		}
		bindir = filepath.Dir(self)
	}
	bindir, err := filepath.Abs(bindir)
	if err != nil {
		return err
	}
	root, err := filepath.Abs(a.root)
	if err != nil {
		return err
	}
	plan := links.Plan(bindir, root, destdir)
	// Every link is checked before any is made.
	for _, l := range plan {
		if ok, what := links.Ours(l.Target); !ok {
			return fmt.Errorf("%s is %s, not a gqmail command; nothing linked (build them all with go build -o DIR/ ./cmd/... and give --bindir DIR)", l.Target, what)
		}
		for _, p := range []string{l.Target, filepath.Dir(l.Path)} {
			if err := links.Trusted(p); err != nil {
				return fmt.Errorf("%w; nothing linked", err)
			}
		}
	}
	left := 0
	for _, l := range plan {
		res, err := links.Install(l, force)
		if err != nil {
			return err
		}
		if res.Outcome == links.LeftAlone {
			left++
		}
		fmt.Fprintln(out, res)
	}
	if left > 0 {
		fmt.Fprintf(os.Stderr, "qmailctl: %d paths left alone; nothing else changed there\n", left)
		return exitError{cli.ExitPermanent}
	}
	return nil
}
