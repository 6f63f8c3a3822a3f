// Package lineerr is the error of an importer that checks a whole file
// and reports every bad line at once (users/assign, /etc/aliases, a
// Dovecot passwd-file), so that one run shows an administrator all that
// must be fixed.
//
// It owns how such a report reads, one line of text a bad line:
//
//	<name> line <N>: <reason>: <the line's text, quoted with %q>
//
// or, for a file whose lines hold secrets (List.HideText), without the
// text:
//
//	<name> line <N>: <reason>
//
// At most MaxListed bad lines are listed; after them a last line says
// "... and <M> more". The cap bounds the message only: List.Lines keeps
// every bad line. What a line's reason says, and the order of the lines,
// are the importer's: lineerr prints them as given.
package lineerr

import (
	"fmt"
	"strings"
)

const (
	// MaxListed bounds a report's message: a file in the wrong format
	// would otherwise give a screenful a line.
	MaxListed = 100
	// MaxQuoted is how much of a bad line Cut keeps.
	MaxQuoted = 80
)

// Line is one bad line.
type Line struct {
	// Line is the 1-based line number.
	Line int
	// Reason says what is wrong, in words.
	Reason string
	// Text is the line without its "\n", cut by Cut; empty where
	// List.HideText.
	Text string
}

// List is every bad line of one file.
type List struct {
	// Name is the file's name as the importer was given it.
	Name string
	// Lines are every bad line, in the order they are to be listed
	// (file order); none is left out.
	Lines []Line
	// HideText leaves the lines' text out of the message, for files
	// whose lines hold secrets.
	HideText bool
}

// Error returns the report described in the package doc.
func (e *List) Error() string {
	return Join(len(e.Lines), func(i int) string { return e.bad(i).Error() })
}

// Unwrap returns one *Bad a bad line, every one of them, in order.
func (e *List) Unwrap() []error {
	errs := make([]error, len(e.Lines))
	for i := range e.Lines {
		errs[i] = e.bad(i)
	}
	return errs
}

func (e *List) bad(i int) *Bad {
	l := e.Lines[i]
	return &Bad{Name: e.Name, Line: l.Line, Reason: l.Reason, Text: l.Text, HideText: e.HideText}
}

// Bad is one bad line of a List as an error of its own: its message is
// the line's line of the List's report.
type Bad struct {
	Name         string // the List's
	Line         int
	Reason, Text string
	HideText     bool // the List's
}

func (b *Bad) Error() string {
	if b.HideText {
		return fmt.Sprintf("%s line %d: %s", b.Name, b.Line, b.Reason)
	}
	return fmt.Sprintf("%s line %d: %s: %q", b.Name, b.Line, b.Reason, b.Text)
}

// Join returns the items 0 to n-1, as item words them, one a line, with
// List's cap: the first MaxListed, then "... and <M> more". It is for a
// report whose entries are not lines of text, such as the records of a
// cdb file.
func Join(n int, item func(i int) string) string {
	var b strings.Builder
	for i := range n {
		if i == MaxListed {
			fmt.Fprintf(&b, "\n... and %d more", n-MaxListed)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(item(i))
	}
	return b.String()
}

// Cut returns s cut to its first MaxQuoted bytes, for Line.Text.
func Cut(s string) string {
	if len(s) > MaxQuoted {
		return s[:MaxQuoted]
	}
	return s
}
