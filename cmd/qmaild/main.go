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
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "deliver-child":
			exit(runChild())
		case "helper":
			exit(runHelper(os.Args[2:]))
		}
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

func exit(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "qmaild: fatal: %v\n", err)
		os.Exit(111)
	}
	os.Exit(0)
}
