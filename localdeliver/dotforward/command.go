package dotforward

import (
	"path"
	"strings"
)

// Call is a .qmail program line that runs dot-forward.
type Call struct {
	// Print is -n: write the instructions into the report, do nothing.
	Print bool
	// Files are the .forward files to try, in order, relative to the home.
	Files []string
}

// Command recognises a .qmail program line (without its "|") that runs
// dot-forward: "dot-forward" or an absolute path ending in "/dot-forward",
// options -n and -N (getopt style, "--" ends them), then the files. A
// line holding anything the shell would interpret, or another option, is
// not recognised, and is run by /bin/sh as any program line.
func Command(cmd string) (Call, bool) {
	for i := 0; i < len(cmd); i++ {
		if !safeByte(cmd[i]) {
			return Call{}, false
		}
	}
	f := strings.Fields(cmd)
	if len(f) == 0 || !(f[0] == "dot-forward" || strings.HasPrefix(f[0], "/") && path.Base(f[0]) == "dot-forward" && !strings.HasSuffix(f[0], "/")) {
		return Call{}, false
	}
	var c Call
	args := f[1:]
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		opt := args[0]
		args = args[1:]
		if opt == "--" {
			break
		}
		for _, l := range opt[1:] {
			switch l {
			case 'n':
				c.Print = true
			case 'N':
				c.Print = false
			default:
				return Call{}, false
			}
		}
	}
	if len(args) > 0 {
		c.Files = args
	}
	return c, true
}

func safeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(" \t/._-+,:@%", c) >= 0
}
