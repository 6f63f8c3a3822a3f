package dotforward

import (
	"strings"
	"testing"
)

// FuzzParse: no input panics, every entry is well formed, and what
// ToQmail writes parses back in dotqmail's terms (one line each).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"bob\n", "\\joe, \"|prog a\"\n", "/x/y\n", ":include: /x\n", "A <b@c>, (x) d@[1.2.3.4];\n", "\"\\", "a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, _ := Parse([]byte(in), testWho, testQ)
		for _, e := range entries {
			switch e.Kind {
			case Self:
				if e.Value != "" {
					t.Fatalf("self with a value: %+v", e)
				}
			case File:
				if !strings.HasPrefix(e.Value, "/") {
					t.Fatalf("a file not absolute: %+v", e)
				}
			case Program, Forward:
			default:
				t.Fatalf("kind %v", e.Kind)
			}
			if strings.ContainsAny(e.Value, "\n") {
				t.Fatalf("a newline in %+v", e)
			}
		}
		lines, err := ToQmail(entries, []string{"./Mailbox"})
		if err == nil {
			for _, l := range lines {
				if l == "" || strings.Contains(l, "\n") {
					t.Fatalf("bad .qmail line %q", l)
				}
			}
		}
		Command(in)
	})
}
