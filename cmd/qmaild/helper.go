package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/localdeliver"
	"github.com/gqmail/gqmail/localdeliver/aliases"
	"github.com/gqmail/gqmail/store"
)

// helperFD is the descriptor the daemon hands the helper its end of the
// socket pair on.
const helperFD = 3

// runHelper is the local delivery helper. Its settings come from its
// arguments, set by the daemon while it was still root; what arrives on
// the socket later is only addresses and messages.
func runHelper(args []string) error {
	fs := flag.NewFlagSet("qmaild helper", flag.ContinueOnError)
	root := fs.String("root", "", "gqmail root")
	dd := fs.String("defaultdelivery", "./Mailbox", "default delivery")
	logFormat := fs.String("log", "plain", "log format")
	alias := fs.String("alias", "alias", "the alias account")
	programTimeout := fs.Duration("program-timeout", localdeliver.DefaultProgramTimeout, "time limit of a .qmail program")
	// Each --checkpassword is one element of the checkpassword command
	// SMTP AUTH runs, as root: "--checkpassword /bin/checkpw
	// --checkpassword -x" runs "/bin/checkpw -x true".
	var checkpassword []string
	fs.Func("checkpassword", "one argument of the checkpassword command (repeat for each; default: qmaild's own checkpassword)", func(arg string) error {
		checkpassword = append(checkpassword, arg)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root == "" {
		return errors.New("helper: --root is required")
	}
	// The helper ignores the terminal's signals; it ends when the daemon
	// closes the socket, after the deliveries under way.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	log := qlog.New(os.Stderr, *logFormat)
	// Delivery children run this very binary, whatever is at its path
	// now: after an in-place upgrade a new child would meet this old
	// helper. The helper holds its own executable open and starts each
	// child from that descriptor (close-on-exec: execve opens the file
	// before it closes the descriptor).
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("helper: cannot open my own binary: %w", err)
	}
	defer exe.Close()
	conn, err := frame.FileConn(os.NewFile(helperFD, "helper-socket"))
	if err != nil {
		return fmt.Errorf("helper: the socket to the daemon on descriptor %d: %w", helperFD, err)
	}
	defer conn.Close()
	assign := store.OpenAssignTable(layout.For(*root).Assign)
	defer assign.Close()
	aliasTable := aliases.OpenTable(aliases.Path(layout.For(*root)))
	defer aliasTable.Close()
	self := fmt.Sprintf("/proc/self/fd/%d", exe.Fd())
	if len(checkpassword) == 0 {
		checkpassword = []string{self, "checkpassword", "--root", *root}
	}
	h := &localdeliver.Helper{
		Resolver:        &localdeliver.Resolver{Assign: assign, Aliases: aliasTable, AliasUser: *alias},
		DefaultDelivery: *dd,
		ChildCommand:    []string{self, "deliver-child", "--program-timeout", programTimeout.String(), "--control", layout.For(*root).Control},
		Checkpassword:   checkpassword,
		SetCredentials:  os.Geteuid() == 0,
		Warn:            func(format string, args ...any) { log.Warning(format, args...) },
	}
	return h.Serve(context.Background(), conn)
}
