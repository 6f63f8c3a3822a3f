package dotforward

import (
	"fmt"
	"strings"
)

// ToQmail returns the .qmail lines that do what entries do (see the
// package doc): "&address", "|command" and "/path" in order, then self,
// the default delivery's lines, once, when an entry is Self. Lines that a
// .qmail file cannot hold as they are (a value with a newline, one that
// ends in a space or a tab, which qmail-local would cut off) are an
// error naming the .forward line.
func ToQmail(entries []Entry, self []string) ([]string, error) {
	var lines []string
	toSelf := false
	for _, e := range entries {
		if e.Kind == Self {
			toSelf = true
			continue
		}
		v := e.Value
		if v == "" || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' || strings.ContainsAny(v, "\n\x00") {
			return nil, fmt.Errorf("line %d: %s %q cannot be written in a .qmail file", e.Line, e.Kind, v)
		}
		switch e.Kind {
		case Forward:
			lines = append(lines, "&"+v)
		case Program:
			lines = append(lines, "|"+v)
		case File:
			lines = append(lines, v)
		}
	}
	if toSelf {
		lines = append(lines, self...)
	}
	return lines, nil
}
