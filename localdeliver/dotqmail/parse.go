package dotqmail

import (
	"bytes"

	"github.com/gqmail/gqmail/internal/outcome"
)

// Kind is the kind of one delivery line.
type Kind int

const (
	Mbox    Kind = iota + 1 // a line starting "." or "/", not ending "/"
	Maildir                 // a line starting "." or "/" and ending "/"
	Program                 // a line starting "|"
	Forward                 // a line starting "&", or any other non-special line
)

// String is the word qmail-local -n prints for the kind.
func (k Kind) String() string {
	switch k {
	case Mbox:
		return "mbox"
	case Maildir:
		return "maildir"
	case Program:
		return "program"
	case Forward:
		return "forward"
	}
	return "unknown"
}

// Instruction is one delivery line of a .qmail file.
type Instruction struct {
	Kind Kind
	// Value is the path ("./Mailbox", "/var/mail/x", "./Maildir/"), the
	// command without its "|", or the forward address without its "&".
	Value string
	Line  int // 1-based line number in the file
	// AfterList is set when a "+list" line comes before this one, which
	// makes a file or program line fail as if the x bit were set.
	AfterList bool
}

// Parse parses the contents of a .qmail file into its delivery lines, in
// file order (see the package doc for the line kinds). plusList reports
// whether a "+list" line was seen. The only error is the temporary failure
// for a blank first line, which empty contents also give: the caller
// replaces empty contents by the default delivery first, as qmail-local
// does. A file of comments gives no instructions and no error.
func Parse(contents []byte) (instrs []Instruction, plusList bool, err error) {
	rest := contents
	if len(rest) == 0 || rest[len(rest)-1] != '\n' {
		rest = append(rest[:len(rest):len(rest)], '\n')
	}
	for n := 1; len(rest) > 0; n++ {
		nl := bytes.IndexByte(rest, '\n')
		line := bytes.TrimRight(rest[:nl], " \t")
		rest = rest[nl+1:]
		// qmail's line is a C string: a NUL ends the value (so a line that
		// starts with one counts as blank), but the maildir test below
		// still looks at the last byte of the whole line.
		value := line
		if i := bytes.IndexByte(value, 0); i >= 0 {
			value = value[:i]
		}
		if len(value) == 0 {
			if n == 1 {
				return nil, false, outcome.Temporary("Uh-oh: first line of .qmail file is blank. (#4.2.1)")
			}
			continue
		}
		in := Instruction{Line: n, AfterList: plusList}
		switch line[0] {
		case '#':
			continue
		case '+':
			if string(value) == "+list" {
				plusList = true
			}
			continue
		case '.', '/':
			in.Kind, in.Value = Mbox, string(value)
			if line[len(line)-1] == '/' {
				in.Kind = Maildir
			}
		case '|':
			in.Kind, in.Value = Program, string(value[1:])
		case '&':
			in.Kind, in.Value = Forward, string(value[1:])
		default:
			in.Kind, in.Value = Forward, string(value)
		}
		instrs = append(instrs, in)
	}
	return instrs, plusList, nil
}

// CheckForwardOnly returns qmail's temporary failure for the first file,
// maildir or program instruction that forward-only mode forbids: every one
// when xBit is set, otherwise those after a "+list" line. Pass the Target's
// ForwardOnly as xBit, or false when the default delivery replaced an empty
// or missing file (qmail then forgets the x bit). Call it before delivering
// anything; it returns nil when nothing is forbidden.
func CheckForwardOnly(instrs []Instruction, xBit bool) error {
	for _, in := range instrs {
		if !xBit && !in.AfterList {
			continue
		}
		switch in.Kind {
		case Mbox, Maildir:
			return outcome.Temporary("Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)")
		case Program:
			return outcome.Temporary("Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)")
		}
	}
	return nil
}
