// Package cli is what gqmail's commands share with each other: the root
// they work on when none is given, qmail's exit codes, and the version
// line. It owns no flags; each command parses its own.
//
// # Exit codes
//
// As qmail's programs: 0 for success, 100 for a usage error or a
// permanent failure, 111 for a temporary failure. Asking for help is not
// an error.
package cli

import (
	"fmt"
	"os"
	"runtime/debug"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitPermanent = 100 // usage errors too
	ExitTemporary = 111
)

// SystemRoot is the root when none is given: where qmail lives.
const SystemRoot = "/var/qmail"

// DefaultRoot is the root a command works on without --root:
// $GQMAIL_ROOT, else SystemRoot.
func DefaultRoot() string {
	if r := os.Getenv("GQMAIL_ROOT"); r != "" {
		return r
	}
	return SystemRoot
}

// RootHelp says how the default root is found, for the commands' help.
const RootHelp = "the gqmail root; without it, $GQMAIL_ROOT if set, else /var/qmail"

// Version is the line --version prints: the command, gqmail's module
// version and the VCS revision it was built from, when the build recorded
// them.
func Version(command string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return command + " (gqmail), no build information"
	}
	version := info.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
	}
	line := fmt.Sprintf("%s (%s) %s", command, info.Main.Path, version)
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", with changes not committed"
			}
		}
	}
	if rev != "" {
		line += ", revision " + rev + modified
	}
	return line
}
