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
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Envelope is qmail-queue's descriptor 1, which it reads.
	Envelope io.Reader
	Root     string
	// UID is the caller's uid, for the default sender.
	UID int
}

// Std is the process's own environment.
func Std() *Env {
	return &Env{
		Args:     os.Args,
		Getenv:   os.Getenv,
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Envelope: os.Stdout,
		Root:     cli.DefaultRoot(),
		UID:      os.Getuid(),
	}
}

func (e *Env) paths() layout.Paths { return layout.For(e.Root) }
