// Command qmaild is the gqmail daemon: the SMTP listener, the queue and its
// scheduler, and, while started as root, the local delivery helper.
//
//	qmaild [--root DIR]         run the daemon on the root DIR (made if missing)
//	qmaild [--root DIR] smtpd   serve one SMTP session on stdin and stdout
//	                            (under tcpserver or inetd), queueing through
//	                            the running daemon
//	qmaild --version            print the version and the revision built from
//
// The root defaults to $GQMAIL_ROOT, else /var/qmail. Exit codes are
// qmail's: 0, 100 for a usage error, 111 for a failure.
//
// Two more modes are started by qmaild itself and are not for people:
// "helper" (the root local delivery helper) and "deliver-child" (a delivery
// process running as one user).
// "checkpassword [--root DIR] [prog...]": the checkpassword interface over users/passwd.db (SMTP AUTH).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/fds"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "deliver-child":
			exit(sanitized(func() error { return runChild(os.Args[2:]) }))
		case "helper":
			// The helper's socket to the daemon is descriptor 3.
			exit(sanitized(func() error { return runHelper(os.Args[2:]) }, helperFD))
		case "checkpassword":
			// The login and password arrive on descriptor 3, if it was
			// handed over: asked before sanitized marks it close-on-exec.
			given := inherited(checkpasswordFD)
			exit(sanitized(func() error { return runCheckpassword(os.Args[2:], given) }, checkpasswordFD))
		}
	}
	if err := fds.Sanitize(); err != nil {
		exit(err)
	}
	fs := flag.NewFlagSet("qmaild", flag.ContinueOnError)
	root := fs.String("root", cli.DefaultRoot(), cli.RootHelp+"; the daemon makes it if missing")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: qmaild [--root DIR] [smtpd]\n       qmaild --version\n")
		fs.PrintDefaults()
	}
	switch err := fs.Parse(os.Args[1:]); {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(cli.ExitOK)
	case err != nil:
		os.Exit(cli.ExitPermanent)
	}
	if *version {
		fmt.Println(cli.Version("qmaild"))
		os.Exit(cli.ExitOK)
	}
	switch {
	case fs.NArg() == 0:
		exit(runDaemon(*root))
	case fs.NArg() == 1 && fs.Arg(0) == "smtpd":
		exit(runStdioSMTP(*root))
	default:
		fmt.Fprintf(os.Stderr, "qmaild: unknown arguments %q\n", fs.Args())
		fs.Usage()
		os.Exit(cli.ExitPermanent)
	}
}

// sanitized runs fn after closing every inherited descriptor but 0-2 and
// keep (see internal/fds).
func sanitized(fn func() error, keep ...int) error {
	if err := fds.Sanitize(keep...); err != nil {
		return err
	}
	return fn()
}

func exit(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "qmaild: fatal: %v\n", err)
		os.Exit(cli.ExitTemporary)
	}
	os.Exit(cli.ExitOK)
}
