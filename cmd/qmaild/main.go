// Command qmaild is the gqmail daemon: the SMTP listener, the queue and its
// scheduler, and, while started as root, the local delivery helper.
//
//	qmaild --root DIR           run the daemon on the root DIR (made if missing)
//	qmaild --root DIR smtpd     serve one SMTP session on stdin and stdout
//	                            (under tcpserver or inetd), queueing through
//	                            the running daemon
//
// Two more modes are started by qmaild itself and are not for people:
// "helper" (the root local delivery helper) and "deliver-child" (a delivery
// process running as one user).
package main

import (
	"flag"
	"fmt"
	"os"

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
		}
	}
	if err := fds.Sanitize(); err != nil {
		exit(err)
	}
	fs := flag.NewFlagSet("qmaild", flag.ContinueOnError)
	root := fs.String("root", "", "the gqmail root directory (made if missing)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: qmaild --root DIR [smtpd]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(100)
	}
	if *root == "" {
		fs.Usage()
		os.Exit(100)
	}
	switch fs.Arg(0) {
	case "":
		exit(runDaemon(*root))
	case "smtpd":
		exit(runStdioSMTP(*root))
	default:
		fs.Usage()
		os.Exit(100)
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
		os.Exit(111)
	}
	os.Exit(0)
}
