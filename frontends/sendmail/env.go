package sendmail

import (
	"io"
	"os"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/layout"
)

// Env is what a command is run with: its arguments, environment,
// descriptors and root. Std gives the process's own; tests make their
// own.
type Env struct {
	Args   []string
	Getenv func(string) string
	// Lookup tells an empty variable from an unset one; when nil, an
	// empty one counts as unset.
	Lookup func(string) (string, bool)
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Envelope is qmail-queue's descriptor 1, which it reads.
	Envelope io.Reader
	Root     string
	// UID is the caller's uid, for the default sender.
	UID int
	// Self is this command's binary, beside which sendmail -bs finds
	// qmaild; os.Executable when empty.
	Self string
}

// Std is the process's own environment. In a setuid or setgid context
// (a privileged program that runs sendmail without cleaning its
// environment), GQMAIL_ROOT and QMAILQUEUE are ignored: the caller must
// not choose the root or a program for the privileged process to run.
func Std() *Env {
	e := &Env{
		Args:     os.Args,
		Getenv:   os.Getenv,
		Lookup:   os.LookupEnv,
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Envelope: os.Stdout,
		Root:     cli.DefaultRoot(),
		UID:      os.Getuid(),
	}
	if os.Geteuid() != os.Getuid() || os.Getegid() != os.Getgid() {
		e.Root = cli.SystemRoot
		hidden := func(k string) bool { return k == "QMAILQUEUE" || k == "GQMAIL_ROOT" }
		e.Getenv = func(k string) string {
			if hidden(k) {
				return ""
			}
			return os.Getenv(k)
		}
		e.Lookup = func(k string) (string, bool) {
			if hidden(k) {
				return "", false
			}
			return os.LookupEnv(k)
		}
	}
	return e
}

func (e *Env) paths() layout.Paths { return layout.For(e.Root) }

func (e *Env) lookup(k string) (string, bool) {
	if e.Lookup != nil {
		return e.Lookup(k)
	}
	v := e.Getenv(k)
	return v, v != ""
}
