package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/auth/passwd"
	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/layout"
)

// checkpasswordFD is where the checkpassword interface hands over the
// login and password.
const checkpasswordFD = 3

// maxCheckpasswordInput is the most the interface sends, as djb's
// checkpassword reads it.
const maxCheckpasswordInput = 512

// Exit codes of the checkpassword interface.
const (
	checkpasswordRefused   = 1 // wrong password, or no such login
	checkpasswordMisuse    = 2 // no descriptor 3, bad input, bad arguments
	checkpasswordTemporary = cli.ExitTemporary
)

// runCheckpassword is "qmaild checkpassword [--root DIR] [prog args...]":
// the checkpassword interface over the root's password table (package
// auth/passwd). It reads "login\0password\0timestamp\0" (the timestamp
// may be empty) from descriptor 3 to its end, at most 512 bytes, and
// exits 1 if the password is not the login's, 2 on misuse, 111 if the
// table cannot be read. If it is, it runs prog (looked up in $PATH) in its
// place with USER set to the login as the table holds it, or, with no
// prog, exits 0. prog gets descriptors 0-2 and none other. Nothing it
// prints holds the password.
//
// given says whether descriptor 3 was inherited (see inherited).
func runCheckpassword(args []string, given bool) error {
	if code := checkpassword(args, given); code != cli.ExitOK {
		os.Exit(code)
	}
	return nil
}

// inherited says whether fd was open, without close-on-exec, when the
// process started: handed over by whoever started it. A free descriptor 3
// is not simply closed: the Go runtime opens files of its own (the
// cgroup's CPU limits) on the lowest free descriptors, close-on-exec, so
// without this check qmaild would read one of them as the login and
// password. Call it before fds.Sanitize, which marks fd close-on-exec.
func inherited(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil && flags&unix.FD_CLOEXEC == 0
}

func checkpassword(args []string, given bool) int {
	fs := flag.NewFlagSet("qmaild checkpassword", flag.ContinueOnError)
	root := fs.String("root", cli.DefaultRoot(), cli.RootHelp)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		warnCheckpassword("%v; usage: qmaild checkpassword [--root DIR] [prog [arg...]] 3< login\\0password\\0timestamp\\0", err)
		return checkpasswordMisuse
	}
	if !given {
		warnCheckpassword("descriptor %d is not open: the login and password are read from it", checkpasswordFD)
		return checkpasswordMisuse
	}
	input, err := readCheckpasswordInput(os.NewFile(checkpasswordFD, "descriptor 3"))
	if err != nil {
		warnCheckpassword("%v", err)
		return checkpasswordMisuse
	}
	defer clear(input)
	login, password, ok := parseCheckpasswordInput(input)
	if !ok {
		warnCheckpassword("descriptor 3 does not hold login\\0password\\0timestamp\\0")
		return checkpasswordMisuse
	}
	p := layout.For(*root)
	if err := layout.Check(p); err != nil {
		warnCheckpassword("%v", err)
		return checkpasswordTemporary
	}
	ok, err = passwd.Check(passwd.Path(p), string(login), string(password))
	switch {
	case err != nil:
		warnCheckpassword("%v", err)
		return checkpasswordTemporary
	case !ok:
		return checkpasswordRefused
	case fs.NArg() == 0:
		return cli.ExitOK
	}
	user, _ := passwd.NormalizeLogin(string(login)) // it was found, so it is one
	prog, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		warnCheckpassword("cannot run %s: %v", fs.Arg(0), err)
		return checkpasswordTemporary
	}
	clear(input)
	err = syscall.Exec(prog, fs.Args(), withUser(os.Environ(), user))
	warnCheckpassword("cannot run %s: %v", prog, err)
	return checkpasswordTemporary
}

// readCheckpasswordInput reads f to its end, refusing more than the
// interface allows.
func readCheckpasswordInput(f *os.File) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, maxCheckpasswordInput+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading descriptor %d: %w", checkpasswordFD, err)
	case len(b) > maxCheckpasswordInput:
		clear(b)
		return nil, fmt.Errorf("descriptor %d holds more than %d bytes", checkpasswordFD, maxCheckpasswordInput)
	}
	return b, nil
}

// parseCheckpasswordInput splits "login\0password\0timestamp\0"; the
// timestamp, and what follows, are not needed.
func parseCheckpasswordInput(b []byte) (login, password []byte, ok bool) {
	login, rest, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return nil, nil, false
	}
	password, _, ok = bytes.Cut(rest, []byte{0})
	return login, password, ok
}

// withUser returns env with USER set to user.
func withUser(env []string, user string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if len(kv) < 5 || kv[:5] != "USER=" {
			out = append(out, kv)
		}
	}
	return append(out, "USER="+user)
}

func warnCheckpassword(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "qmaild checkpassword: "+format+"\n", args...)
}
