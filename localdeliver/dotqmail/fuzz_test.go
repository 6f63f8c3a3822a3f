package dotqmail

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"./Mailbox\n", "./Maildir/\n", "|cmd arg\n", "&a@b\n", "a@b", "# c\n\n+list\n&x\n",
		"\n", "", "x \t\r\n./y/ \n", "./a\x00b/\n", "+list", "&\n|\n.\n/\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, contents []byte) {
		instrs, _, err := Parse(contents)
		if err != nil {
			if instrs != nil {
				t.Fatalf("Parse(%q) returned instructions with its error", contents)
			}
			return
		}
		ls := lines(contents)
		prev := 0
		for _, in := range instrs {
			if strings.ContainsAny(in.Value, "\n\x00") {
				t.Fatalf("Parse(%q): value %q holds a newline or NUL", contents, in.Value)
			}
			if in.Line <= prev || in.Line > len(ls) {
				t.Fatalf("Parse(%q): line %d after %d (of %d)", contents, in.Line, prev, len(ls))
			}
			prev = in.Line
			line := bytes.TrimRight(ls[in.Line-1], " \t")
			var want Kind
			switch line[0] {
			case '.', '/':
				want = Mbox
				if line[len(line)-1] == '/' {
					want = Maildir
				}
			case '|':
				want = Program
			case '#', '+', 0:
				t.Fatalf("Parse(%q): line %d %q gave %+v", contents, in.Line, line, in)
			default:
				want = Forward
			}
			if in.Kind != want {
				t.Fatalf("Parse(%q): line %d %q is %v, want %v", contents, in.Line, line, in.Kind, want)
			}
			if !bytes.Contains(line, []byte(in.Value)) {
				t.Fatalf("Parse(%q): value %q not in line %q", contents, in.Value, line)
			}
		}
	})
}

func FuzzFindNeverLeavesHome(f *testing.F) {
	for _, s := range []string{"", "a", "a-b-c", "../../etc/passwd", "/etc/passwd", "a/b-c", "-/-", "P.D.Q.Bach", "x-"} {
		f.Add("-", s)
	}
	f.Add("", "")
	f.Add("", "a/b")
	f.Fuzz(func(t *testing.T, dash, ext string) {
		fsys := allNames()
		if _, err := Find(fsys, dash, ext); err != nil {
			t.Fatalf("Find(%q, %q) in an empty home: %v", dash, ext, err)
		}
		if _, err := NewSender(fsys, "a@b", "l", "d", dash, ext); err != nil {
			t.Fatalf("NewSender(%q, %q) in an empty home: %v", dash, ext, err)
		}
		for _, name := range append(fsys.opened, fsys.statted...) {
			if strings.Contains(name, "/") || !strings.HasPrefix(name, ".qmail") {
				t.Fatalf("Find/NewSender(%q, %q) asked for %q", dash, ext, name)
			}
		}
		if len(fsys.opened) == 0 && !strings.Contains(dash, "/") {
			t.Fatalf("Find(%q, %q) opened nothing, not even the last default", dash, ext)
		}
	})
}
