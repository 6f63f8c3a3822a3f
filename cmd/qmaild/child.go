package main

import (
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/localdeliver"
)

// runChild is a delivery child: the helper started it with one user's uid
// and gid and its socket on descriptor 0. The socket is moved off 0, which
// becomes /dev/null, so that a program the child runs can never be handed
// it, whatever the code that starts programs does.
func runChild(args []string) error {
	fs := flag.NewFlagSet("qmaild deliver-child", flag.ContinueOnError)
	programTimeout := fs.Duration("program-timeout", localdeliver.DefaultProgramTimeout, "time limit of a .qmail program")
	controlDir := fs.String("control", "", "the root's control directory, absolute (qualifies .forward addresses)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := frame.FileConn(os.NewFile(0, "helper-socket"))
	if err != nil {
		return fmt.Errorf("delivery child: %w", err)
	}
	defer conn.Close()
	// Descriptor 0 is free now, so /dev/null opens on it.
	null, err := unix.Open("/dev/null", unix.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("delivery child: /dev/null: %w", err)
	}
	if null != 0 {
		err := unix.Dup3(null, 0, 0)
		unix.Close(null)
		if err != nil {
			return fmt.Errorf("delivery child: /dev/null on descriptor 0: %w", err)
		}
	}
	return localdeliver.RunChild(conn, localdeliver.ChildOptions{ProgramTimeout: *programTimeout, Control: *controlDir})
}
