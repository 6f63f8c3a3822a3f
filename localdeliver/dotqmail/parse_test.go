package dotqmail

import (
	"errors"
	"slices"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
)

func TestParseLineKinds(t *testing.T) {
	tests := []struct {
		name     string
		contents string
		want     []Instruction
		plusList bool
	}{
		{"a relative path is an mbox", "./Mailbox\n", []Instruction{{Kind: Mbox, Value: "./Mailbox", Line: 1}}, false},
		{"an absolute path is an mbox", "/var/mail/x\n", []Instruction{{Kind: Mbox, Value: "/var/mail/x", Line: 1}}, false},
		{"a path ending in a slash is a maildir", "./Maildir/\n", []Instruction{{Kind: Maildir, Value: "./Maildir/", Line: 1}}, false},
		{"a pipe is a program without its bar", "|preline procmail -a x\n",
			[]Instruction{{Kind: Program, Value: "preline procmail -a x", Line: 1}}, false},
		{"an ampersand is a forward without it", "&joe@example.org\n", []Instruction{{Kind: Forward, Value: "joe@example.org", Line: 1}}, false},
		{"any other line is a forward of the whole line", "joe@example.org\n", []Instruction{{Kind: Forward, Value: "joe@example.org", Line: 1}}, false},
		{"a forward address is taken verbatim", "&<Joe> (x) y\n", []Instruction{{Kind: Forward, Value: "<Joe> (x) y", Line: 1}}, false},
		{"leading whitespace is kept", " joe\n", []Instruction{{Kind: Forward, Value: " joe", Line: 1}}, false},
		{"a lone ampersand forwards to the empty address", "&\n", []Instruction{{Kind: Forward, Value: "", Line: 1}}, false},
		{"trailing spaces and tabs are stripped", "./Mailbox \t \n&a@b\t\n|cmd  \n",
			[]Instruction{{Kind: Mbox, Value: "./Mailbox", Line: 1}, {Kind: Forward, Value: "a@b", Line: 2}, {Kind: Program, Value: "cmd", Line: 3}}, false},
		{"trailing spaces before a maildir slash check are stripped", "./Maildir/  \n", []Instruction{{Kind: Maildir, Value: "./Maildir/", Line: 1}}, false},
		{"a carriage return is kept as qmail keeps it", "./Maildir/\r\n&a@b\r\n",
			[]Instruction{{Kind: Mbox, Value: "./Maildir/\r", Line: 1}, {Kind: Forward, Value: "a@b\r", Line: 2}}, false},
		{"a missing final newline is fine", "./Mailbox\n&a@b", []Instruction{{Kind: Mbox, Value: "./Mailbox", Line: 1}, {Kind: Forward, Value: "a@b", Line: 2}}, false},
		{"comments and later blank lines are skipped but counted", "# hi\n\n  \n#\n./Mailbox\n",
			[]Instruction{{Kind: Mbox, Value: "./Mailbox", Line: 5}}, false},
		{"a file of comments has no instructions", "# nothing\n#here", nil, false},
		{"+list turns on forward-only mode for the lines after it", "./before\n+list\n&a\n./after/\n",
			[]Instruction{{Kind: Mbox, Value: "./before", Line: 1}, {Kind: Forward, Value: "a", Line: 3, AfterList: true},
				{Kind: Maildir, Value: "./after/", Line: 4, AfterList: true}}, true},
		{"+list with trailing blanks counts", "+list \t\n&a\n", []Instruction{{Kind: Forward, Value: "a", Line: 2, AfterList: true}}, true},
		{"other plus lines are ignored", "+List\n+lists\n+\n&a\n", []Instruction{{Kind: Forward, Value: "a", Line: 4}}, false},
		{"a NUL ends the value but not the maildir test", "./Mail\x00box/\n&a\x00b\n",
			[]Instruction{{Kind: Maildir, Value: "./Mail", Line: 1}, {Kind: Forward, Value: "a", Line: 2}}, false},
		{"a later line starting with NUL is blank", "&a\n\x00x\n", []Instruction{{Kind: Forward, Value: "a", Line: 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, plusList, err := Parse([]byte(tt.contents))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.contents, err)
			}
			if !slices.Equal(got, tt.want) || plusList != tt.plusList {
				t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tt.contents, got, plusList, tt.want, tt.plusList)
			}
		})
	}
}

func TestParseRefusesABlankFirstLine(t *testing.T) {
	for _, contents := range []string{"\n./Mailbox\n", " \t\n&a\n", "", "\n", "\x00junk\n&a\n"} {
		instrs, _, err := Parse([]byte(contents))
		var oe *outcome.Error
		if !errors.As(err, &oe) || oe.Permanent || oe.Text != "Uh-oh: first line of .qmail file is blank. (#4.2.1)" {
			t.Errorf("Parse(%q) = %+v, %v; want the temporary blank-first-line failure", contents, instrs, err)
		}
	}
}

func TestCheckForwardOnly(t *testing.T) {
	const (
		fileText = "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)"
		progText = "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)"
	)
	tests := []struct {
		name     string
		contents string
		xBit     bool
		want     string // "" for no error
	}{
		{"forwards are allowed with the x bit", "&a\nb\n# c\n", true, ""},
		{"an mbox is refused with the x bit", "&a\n./Mailbox\n", true, fileText},
		{"a maildir is refused with the x bit", "./Maildir/\n", true, fileText},
		{"a program is refused with the x bit", "&a\n|cmd\n", true, progText},
		{"the first offending line decides the text", "|cmd\n./Mailbox\n", true, progText},
		{"without the x bit anything goes", "./Mailbox\n|cmd\n", false, ""},
		{"+list refuses a file line after it", "&a\n+list\n./Mailbox\n", false, fileText},
		{"+list refuses a program line after it", "+list\n|cmd\n", false, progText},
		{"+list leaves the lines before it alone", "./Mailbox\n|cmd\n+list\n&a\n", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			instrs, _, err := Parse([]byte(tt.contents))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckForwardOnly(instrs, tt.xBit)
			if tt.want == "" {
				if err != nil {
					t.Errorf("CheckForwardOnly(%q, %v) = %v, want nil", tt.contents, tt.xBit, err)
				}
				return
			}
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Permanent || oe.Text != tt.want {
				t.Errorf("CheckForwardOnly(%q, %v) = %v, want temporary %q", tt.contents, tt.xBit, err, tt.want)
			}
		})
	}
}

func TestKindStringIsQmailLocalNWord(t *testing.T) {
	for k, want := range map[Kind]string{Mbox: "mbox", Maildir: "maildir", Program: "program", Forward: "forward", 0: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
