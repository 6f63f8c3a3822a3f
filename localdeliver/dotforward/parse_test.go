package dotforward

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/address"
)

var (
	testQ   = address.Qualifier{DefaultHost: "mail.example.org", DefaultDomain: "example.org", PlusDomain: "plus.example"}
	testWho = Owner{User: "joe", IsHost: func(d string) bool { return strings.EqualFold(d, "example.org") }}
)

func TestParseReadsEveryKindOfEntry(t *testing.T) {
	cases := []struct {
		name, in string
		want     []Entry
	}{
		{"a bare name is qualified with defaulthost", "bob\n", []Entry{{Forward, "bob@mail.example.org", 1}}},
		{"a host without a dot gets defaultdomain", "bob@box\n", []Entry{{Forward, "bob@box.example.org", 1}}},
		{"a host ending in + gets plusdomain", "bob@uicvm+\n", []Entry{{Forward, "bob@uicvm.plus.example", 1}}},
		{"a full address stays", "bob@other.example\n", []Entry{{Forward, "bob@other.example", 1}}},
		{"commas separate addresses", "a@x.example, b@y.example,c@z.example", []Entry{{Forward, "a@x.example", 1}, {Forward, "b@y.example", 1}, {Forward, "c@z.example", 1}}},
		{"words side by side are two addresses", "a@x.example b@y.example", []Entry{{Forward, "a@x.example", 1}, {Forward, "b@y.example", 1}}},
		{"a route address drops its phrase", "Bob Smith <bob@x.example>", []Entry{{Forward, "bob@x.example", 1}}},
		{"comments are dropped", "bob@x.example (Bob), (nobody)", []Entry{{Forward, "bob@x.example", 1}}},
		{"a quoted program", `"|/usr/bin/vacation joe"`, []Entry{{Program, "/usr/bin/vacation joe", 1}}},
		{"an unquoted program without arguments", `|/usr/bin/procmail`, []Entry{{Program, "/usr/bin/procmail", 1}}},
		{"an unquoted program with an argument is two addresses, as in dot-forward", `|prog arg`, []Entry{{Program, "prog", 1}, {Forward, "arg@mail.example.org", 1}}},
		{"a program may hold an @ in quotes", `"|mail -s hi a@b.example"`, []Entry{{Program, "mail -s hi a@b.example", 1}}},
		{"a file", "/home/joe/saved.mbox\n", []Entry{{File, "/home/joe/saved.mbox", 1}}},
		{"a quoted file with a space", `"/home/joe/my box"`, []Entry{{File, "/home/joe/my box", 1}}},
		{"the user's name is self", "joe\n", []Entry{{Self, "", 1}}},
		{"backslash user is self", `\joe`, []Entry{{Self, "", 1}}},
		{"the name's case does not matter", "JOE", []Entry{{Self, "", 1}}},
		{"user@host is self", "joe@Example.ORG", []Entry{{Self, "", 1}}},
		{"user@another host is a forward", "joe@other.example", []Entry{{Forward, "joe@other.example", 1}}},
		{"backslash another user is a local forward", `\bob`, []Entry{{Forward, "bob@mail.example.org", 1}}},
		{"comments and blank lines", "# a comment, bob\n\n   \nbob@x.example\n", []Entry{{Forward, "bob@x.example", 4}}},
		{"only a line starting with # is a comment", " # not, x@y.example", []Entry{{Forward, "#@mail.example.org", 1}, {Forward, "not@mail.example.org", 1}, {Forward, "x@y.example", 1}}},
		{"colons and semicolons are ignored", "list: a@x.example, b@y.example;", []Entry{{Forward, "list@mail.example.org", 1}, {Forward, "a@x.example", 1}, {Forward, "b@y.example", 1}}},
		{"CRLF line ends", "bob@x.example\r\n\\joe\r\n", []Entry{{Forward, "bob@x.example", 1}, {Self, "", 2}}},
		{"sendmail's usual vacation file", "\\joe, \"|/usr/bin/vacation joe\"\n", []Entry{{Self, "", 1}, {Program, "/usr/bin/vacation joe", 1}}},
		{"empty", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in), testWho, testQ)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseReportsEveryBadLine(t *testing.T) {
	in := "good@x.example\n\"unclosed\n:include: /etc/list\nBob <bob@x.example\nfine@y.example\n(open\nx\x00y\n"
	got, err := Parse([]byte(in), testWho, testQ)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse: %v, want Errors", err)
	}
	want := []struct {
		line int
		err  error
	}{{2, ErrSyntax}, {3, ErrInclude}, {4, ErrSyntax}, {6, ErrSyntax}, {7, ErrNUL}}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %d", errs, len(want))
	}
	for i, w := range want {
		if errs[i].Line != w.line || !errors.Is(errs[i], w.err) {
			t.Errorf("error %d: %v, want line %d: %v", i, errs[i], w.line, w.err)
		}
	}
	if len(got) != 2 || got[0].Value != "good@x.example" || got[1].Value != "fine@y.example" {
		t.Errorf("the good lines gave %+v", got)
	}
}

func TestCommandRecognisesDotForward(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want Call
	}{
		{"dot-forward .forward", true, Call{Files: []string{".forward"}}},
		{"/var/qmail/bin/dot-forward .forward", true, Call{Files: []string{".forward"}}},
		{" dot-forward  -n .forward .forward2", true, Call{Print: true, Files: []string{".forward", ".forward2"}}},
		{"dot-forward -nN -- -odd", true, Call{Files: []string{"-odd"}}},
		{"dot-forward", true, Call{}},
		{"dot-forward -x .forward", false, Call{}},
		{"dot-forward .forward; rm -rf x", false, Call{}},
		{"dot-forward ~/.forward", false, Call{}},
		{"dot-forward $HOME/.forward", false, Call{}},
		{"bin/dot-forward .forward", false, Call{}},
		{"/usr/bin/dot-forward/ .forward", false, Call{}},
		{"preline dot-forward .forward", false, Call{}},
		{"dot-forwarder .forward", false, Call{}},
		{"X=/dot-forward .forward", false, Call{}},
	}
	for _, tc := range cases {
		got, ok := Command(tc.in)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Command(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestToQmailWritesTheEquivalentLines(t *testing.T) {
	entries, err := Parse([]byte("bob, \"|/usr/bin/vacation joe\"\n\\joe\n/home/joe/saved\n"), testWho, testQ)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToQmail(entries, []string{"./Mailbox"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"&bob@mail.example.org", "|/usr/bin/vacation joe", "/home/joe/saved", "./Mailbox"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ToQmail = %q, want %q", got, want)
	}
	if _, err := ToQmail([]Entry{{Kind: Program, Value: "prog ", Line: 3}}, nil); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("a program ending in a space: %v", err)
	}
}
