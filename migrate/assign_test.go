package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gqmail/gqmail/internal/lineerr"
	"github.com/gqmail/gqmail/store"
)

// The example of qmail-users(5).
const usersExample = "+:alias:7790:2108:/var/qmail/alias:-::\n" +
	"+joe-:joe:507:100:/home/joe:-::\n" +
	"=joe:joe:507:100:/home/joe:::\n" +
	".\n"

var (
	aliasCatchAll = store.AssignEntry{Wildcard: true, Local: "", User: "alias", UID: 7790, GID: 2108, Home: "/var/qmail/alias", Dash: "-"}
	joeWildcard   = store.AssignEntry{Wildcard: true, Local: "joe-", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-"}
	joeExact      = store.AssignEntry{Local: "joe", User: "joe", UID: 507, GID: 100, Home: "/home/joe"}
)

func TestParseAssignAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []store.AssignEntry
	}{
		{"the qmail-users(5) example, in file order", usersExample,
			[]store.AssignEntry{aliasCatchAll, joeWildcard, joeExact}},
		{"a file holding only the terminator, as no entries", ".\n", nil},
		{"a terminator without a newline", "=joe:joe:507:100:/home/joe:::\n.",
			[]store.AssignEntry{joeExact}},
		{"any line starting with a dot as the terminator", "=joe:joe:507:100:/home/joe:::\n.end of table\n",
			[]store.AssignEntry{joeExact}},
		{"a terminator with a DOS line end", "=joe:joe:507:100:/home/joe:::\n.\r\n",
			[]store.AssignEntry{joeExact}},
		{"text after the terminator, ignoring it", "=joe:joe:507:100:/home/joe:::\n.\ngarbage\x00\r\n=:root:0:0:x:?::\nno newline",
			[]store.AssignEntry{joeExact}},
		{"fields after the seventh colon, ignoring them", "=joe:joe:507:100:/home/joe:-:ext:more:fields: and text\n.\n",
			[]store.AssignEntry{{Local: "joe", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-", Ext: "ext"}}},
		{"the local part in its original case", "=Joe.Bloggs:joe:507:100:/home/joe:::\n.\n",
			[]store.AssignEntry{{Local: "Joe.Bloggs", User: "joe", UID: 507, GID: 100, Home: "/home/joe"}}},
		{"duplicates, keeping all in order", "=joe:joe:507:100:/home/joe:::\n=JOE:bill:508:100:/home/bill:::\n.\n",
			[]store.AssignEntry{joeExact, {Local: "JOE", User: "bill", UID: 508, GID: 100, Home: "/home/bill"}}},
		{"qmail-pw2u -/ output with dash -/", "+joe-:joe:507:100:/home/joe:-/::\n.\n",
			[]store.AssignEntry{{Wildcard: true, Local: "joe-", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-/"}}},
		{"a subuser with an extension prefix", "=sub:joe:507:100:/home/joe:-:pre:\n+sub-:joe:507:100:/home/joe:-:pre-:\n.\n",
			[]store.AssignEntry{
				{Local: "sub", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-", Ext: "pre"},
				{Wildcard: true, Local: "sub-", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-", Ext: "pre-"},
			}},
		{"gid 0 and the largest uid", "=big:big:2147483647:0:/home/big:::\n.\n",
			[]store.AssignEntry{{Local: "big", User: "big", UID: 1<<31 - 1, Home: "/home/big"}}},
		{"numbers with leading zeros", "=joe:joe:0507:0100:/home/joe:::\n.\n",
			[]store.AssignEntry{joeExact}},
		{"white space in the local part, home and extension", "=a b:joe:507:100:/home/j oe:-:x y:\n.\n",
			[]store.AssignEntry{{Local: "a b", User: "joe", UID: 507, GID: 100, Home: "/home/j oe", Dash: "-", Ext: "x y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAssign(strings.NewReader(tc.in), "assign")
			if err != nil {
				t.Fatalf("ParseAssign(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseAssign(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseAssignRejects(t *testing.T) {
	const good = "=joe:joe:507:100:/home/joe:::\n"
	for _, tc := range []struct {
		name   string
		in     string
		line   int
		reason string
	}{
		{"an empty input for want of a terminator", "", 1, reasonNoTerminator},
		{"a file cut short", good + good, 3, reasonNoTerminator},
		{"an empty line", good + "\n.\n", 2, reasonEmpty},
		{"a NUL byte", good + "=joe:joe:507:100:/home/joe\x00:::\n.\n", 2, reasonNUL},
		{"a DOS line end", "=joe:joe:507:100:/home/joe:::\r\n.\r\n", 1, reasonCR},
		{"a carriage return after the ignored colon", "=joe:joe:507:100:/home/joe:::x\ry\n.\n", 1, reasonCR},
		{"a line starting with neither = nor +", good + "joe:joe:507:100:/home/joe:::\n.\n", 2, reasonKind},
		{"a comment line", "# users\n" + good + ".\n", 1, reasonKind},
		{"a line starting with white space", " =joe:joe:507:100:/home/joe:::\n.\n", 1, reasonKind},
		{"a line without a colon", "=joe\n.\n", 1, reasonNoColon},
		{"a line with six colons", "=joe:joe:507:100:/home/joe::\n.\n", 1, reasonFewColons},
		{"a line with only the local part's colon", "+:\n.\n", 1, reasonFewColons},
		{"an exact line with an empty local part", "=:joe:507:100:/home/joe:::\n.\n", 1, reasonEmptyLocal},
		{"an empty user name", "=joe::507:100:/home/joe:::\n.\n", 1, reasonEmptyUser},
		{"a space in the user name", "=joe:jo e:507:100:/home/joe:::\n.\n", 1, reasonSpaceUser},
		{"a tab in the user name", "=joe:joe\t:507:100:/home/joe:::\n.\n", 1, reasonSpaceUser},
		{"an empty uid", "=joe:joe::100:/home/joe:::\n.\n", 1, reasonUIDSyntax},
		{"a signed uid", "=joe:joe:+507:100:/home/joe:::\n.\n", 1, reasonUIDSyntax},
		{"a negative uid", "=joe:joe:-1:100:/home/joe:::\n.\n", 1, reasonUIDSyntax},
		{"a uid with a space", "=joe:joe: 507:100:/home/joe:::\n.\n", 1, reasonUIDSyntax},
		{"a user name in the uid field", "=joe:joe:joe:100:/home/joe:::\n.\n", 1, reasonUIDSyntax},
		{"a long uid that is not a number", "=joe:joe:99999999999x:100:/home/joe:::\n.\n", 1, reasonUIDSyntax},
		{"a uid past int32", "=joe:joe:2147483648:100:/home/joe:::\n.\n", 1, reasonUIDRange},
		{"a uid past int64", "=joe:joe:99999999999999999999999:100:/home/joe:::\n.\n", 1, reasonUIDRange},
		{"uid 0", "=root:root:0:0:/root:::\n.\n", 1, reasonUIDRoot},
		{"uid 0 written as 000", "+:alias:000:0:/var/qmail/alias:-::\n.\n", 1, reasonUIDRoot},
		{"an empty gid", "=joe:joe:507::/home/joe:::\n.\n", 1, reasonGIDSyntax},
		{"a hexadecimal gid", "=joe:joe:507:0x64:/home/joe:::\n.\n", 1, reasonGIDSyntax},
		{"a gid past int32", "=joe:joe:507:4294967296:/home/joe:::\n.\n", 1, reasonGIDRange},
		{"a relative home directory", "=joe:joe:507:100:home/joe:::\n.\n", 1, reasonHome},
		{"an empty home directory", "=joe:joe:507:100::::\n.\n", 1, reasonHome},
		{"a dash other than -", "=joe:joe:507:100:/home/joe:+::\n.\n", 1, reasonDash},
		{"a doubled dash", "=joe:joe:507:100:/home/joe:--::\n.\n", 1, reasonDash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAssign(strings.NewReader(tc.in), "assign")
			if got != nil {
				t.Errorf("ParseAssign(%q) returned entries %+v along with an error", tc.in, got)
			}
			var ae *AssignError
			if !errors.As(err, &ae) {
				t.Fatalf("ParseAssign(%q) error = %v, want an *AssignError", tc.in, err)
			}
			if len(ae.Lines) != 1 || ae.Lines[0].Line != tc.line || ae.Lines[0].Reason != tc.reason {
				t.Fatalf("ParseAssign(%q) bad lines = %+v, want line %d: %s", tc.in, ae.Lines, tc.line, tc.reason)
			}
			if want := fmt.Sprintf("assign line %d: %s: ", tc.line, tc.reason); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}

func TestParseAssignReportsEveryBadLineAtOnce(t *testing.T) {
	in := "=joe:joe:507:100:/home/joe:::\n" + // 1 good
		"=root:root:0:0:/root:::\n" + // 2
		"+:alias:7790:2108:/var/qmail/alias:-::\n" + // 3 good
		"\n" + // 4
		"=bill:bill:508:100:home/bill:::\r\n" + // 5: two faults, the first is reported
		"=bill:bill:508:100:home/bill:::\n" + // 6
		".\n" +
		"=after:the:terminator:is:not:checked\n"
	_, err := ParseAssign(strings.NewReader(in), "/var/qmail/users/assign")
	var ae *AssignError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want an *AssignError", err)
	}
	want := []lineerr.Line{
		{Line: 2, Reason: reasonUIDRoot, Text: "=root:root:0:0:/root:::"},
		{Line: 4, Reason: reasonEmpty, Text: ""},
		{Line: 5, Reason: reasonCR, Text: "=bill:bill:508:100:home/bill:::\r"},
		{Line: 6, Reason: reasonHome, Text: "=bill:bill:508:100:home/bill:::"},
	}
	if !slices.Equal(ae.Lines, want) {
		t.Errorf("bad lines\n got %+v\nwant %+v", ae.Lines, want)
	}
	wantMsg := `/var/qmail/users/assign line 2: uid 0: qmail never delivers as root: "=root:root:0:0:/root:::"` + "\n" +
		`/var/qmail/users/assign line 4: empty line: ""` + "\n" +
		`/var/qmail/users/assign line 5: carriage return in line: file has DOS line ends?: "=bill:bill:508:100:home/bill:::\r"` + "\n" +
		`/var/qmail/users/assign line 6: home directory is not absolute: "=bill:bill:508:100:home/bill:::"`
	if err.Error() != wantMsg {
		t.Errorf("message\n got %s\nwant %s", err, wantMsg)
	}
}

func TestParseAssignReportsBadLinesAndTheMissingTerminator(t *testing.T) {
	_, err := ParseAssign(strings.NewReader("=joe:joe:0:100:/home/joe:::\n=bill:bill:508:100:/home/bill:::"), "assign")
	var ae *AssignError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want an *AssignError", err)
	}
	want := []lineerr.Line{
		{Line: 1, Reason: reasonUIDRoot, Text: "=joe:joe:0:100:/home/joe:::"},
		{Line: 3, Reason: reasonNoTerminator, Text: ""},
	}
	if !slices.Equal(ae.Lines, want) {
		t.Errorf("bad lines\n got %+v\nwant %+v", ae.Lines, want)
	}
}

func TestAssignErrorCutsLongLinesAndLongLists(t *testing.T) {
	long := "=" + strings.Repeat("x", 200) + ":joe:0:100:/home/joe:::"
	in := strings.Repeat(long+"\n", 150) + ".\n"
	_, err := ParseAssign(strings.NewReader(in), "assign")
	var ae *AssignError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want an *AssignError", err)
	}
	if len(ae.Lines) != 150 {
		t.Errorf("got %d bad lines, want all 150", len(ae.Lines))
	}
	for _, l := range ae.Lines {
		if l.Text != long[:80] {
			t.Fatalf("line %d text = %q, want the first 80 bytes %q", l.Line, l.Text, long[:80])
		}
	}
	msg := strings.Split(err.Error(), "\n")
	if len(msg) != 101 {
		t.Fatalf("message has %d lines, want 100 and a summary", len(msg))
	}
	if want := fmt.Sprintf("assign line 100: %s: %q", reasonUIDRoot, long[:80]); msg[99] != want {
		t.Errorf("message line 100 = %s, want %s", msg[99], want)
	}
	if msg[100] != "... and 50 more" {
		t.Errorf("last message line = %q, want %q", msg[100], "... and 50 more")
	}
}

func TestParseAssignReadsLinesLongerThanItsBuffer(t *testing.T) {
	home := "/home/" + strings.Repeat("h", 200<<10)
	in := "=joe:joe:507:100:" + home + ":::\n.\n"
	got, err := ParseAssign(strings.NewReader(in), "assign")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.AssignEntry{{Local: "joe", User: "joe", UID: 507, GID: 100, Home: home}}
	if !slices.Equal(got, want) {
		t.Errorf("got %d entries, home of %d bytes; want one with %d bytes", len(got), len(got[0].Home), len(home))
	}
}

func TestParseAssignPassesOnReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseAssign(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader(usersExample))), "assign")
	if err == nil {
		t.Fatal("no error from a reader that fails")
	}
	var ae *AssignError
	if errors.As(err, &ae) {
		t.Errorf("a read error became a format error: %v", err)
	}
	_, err = ParseAssign(iotest.ErrReader(boom), "assign")
	if !errors.Is(err, boom) {
		t.Errorf("error = %v, want it to wrap %v", err, boom)
	}
	if !strings.HasPrefix(err.Error(), "assign: ") {
		t.Errorf("error %q does not name the input", err)
	}
}

func TestFormatAssignRoundTrips(t *testing.T) {
	for _, in := range []string{
		usersExample,
		".\n",
		"=sub:joe:507:100:/home/joe:-:pre:\n+sub-:joe:507:100:/home/joe:-/:pre-:\n=Big:big:2147483647:0:/:::\n",
	} {
		if !strings.HasSuffix(in, ".\n") {
			in += ".\n"
		}
		entries, err := ParseAssign(strings.NewReader(in), "assign")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := FormatAssign(&out, entries); err != nil {
			t.Fatalf("FormatAssign(%+v): %v", entries, err)
		}
		if out.String() != in {
			t.Errorf("FormatAssign wrote\n%s\nwant\n%s", out.String(), in)
		}
		again, err := ParseAssign(&out, "formatted")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again, entries) {
			t.Errorf("round trip\n got %+v\nwant %+v", again, entries)
		}
	}
}

func TestFormatAssignWritesNothingWhenAnEntryCannotBeWritten(t *testing.T) {
	entries := []store.AssignEntry{
		joeExact,
		{Local: "a:b", User: "joe", UID: 507, GID: 100, Home: "/home/joe"},
		{Local: "joe", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Ext: "x\n=root:root:0:0:/root:::"},
		{Local: "root", User: "root", UID: 0, GID: 0, Home: "/root"},
		{Local: "neg", User: "neg", UID: -1, GID: 100, Home: "/home/neg"},
		{Local: "big", User: "big", UID: 507, GID: 1 << 31, Home: "/home/big"},
		{Local: "", User: "joe", UID: 507, GID: 100, Home: "/home/joe"},
		{Wildcard: true, Local: "", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "x"},
		joeWildcard,
	}
	var out bytes.Buffer
	err := FormatAssign(&out, entries)
	if out.Len() != 0 {
		t.Errorf("FormatAssign wrote %q despite bad entries", out.String())
	}
	var ae *AssignError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want an *AssignError", err)
	}
	var got []string
	for _, l := range ae.Lines {
		got = append(got, fmt.Sprintf("%d: %s", l.Line, l.Reason))
	}
	want := []string{
		`2: local part contains ":" or a newline`,
		`3: extension contains ":" or a newline`,
		"4: " + reasonUIDRoot,
		"5: " + reasonUIDSyntax,
		"6: " + reasonGIDRange,
		"7: " + reasonEmptyLocal,
		"8: " + reasonDash,
	}
	if !slices.Equal(got, want) {
		t.Errorf("bad entries\n got %q\nwant %q", got, want)
	}
}

func TestFormatAssignPassesOnWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	if err := FormatAssign(failWriter{boom}, []store.AssignEntry{joeExact}); !errors.Is(err, boom) {
		t.Errorf("error = %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func FuzzParseAssign(f *testing.F) {
	for _, s := range []string{
		usersExample,
		".\n",
		"",
		".",
		"=joe:joe:507:100:/home/joe:::",
		"=joe:joe:507:100:/home/joe:-:ext:more:fields\n.\n",
		"=Joe:joe:0507:0100:/home/joe:-/:x y:\n.\ngarbage",
		"=root:root:0:0:/root:::\n.\n",
		"=joe:joe:507:100:/home/joe:::\r\n.\r\n",
		"+:\n\n=:::::::\n joe\n.\n",
		"=joe:joe:2147483648:100:/home/joe:::\n=joe:joe:507:-1:/home/joe:::\n.\n",
		"=joe\x00:joe:507:100:/home/joe:::\n.\n",
		"+joe-:j\toe:507:100:home:--::\n.\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, err := ParseAssign(bytes.NewReader(in), "fuzz")
		if err != nil {
			var ae *AssignError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *AssignError", err)
			}
			if entries != nil {
				t.Fatalf("entries %+v returned with an error", entries)
			}
			if len(ae.Lines) == 0 {
				t.Fatal("an *AssignError without bad lines")
			}
			for i, l := range ae.Lines {
				if l.Reason == "" || len(l.Text) > lineerr.MaxQuoted || l.Line < 1 || i > 0 && l.Line <= ae.Lines[i-1].Line {
					t.Fatalf("bad line report %+v in %+v", l, ae.Lines)
				}
			}
			return
		}
		var out bytes.Buffer
		if err := FormatAssign(&out, entries); err != nil {
			t.Fatalf("FormatAssign(%+v) of what ParseAssign returned: %v", entries, err)
		}
		again, err := ParseAssign(bytes.NewReader(out.Bytes()), "formatted")
		if err != nil {
			t.Fatalf("ParseAssign of FormatAssign output %q: %v", out.String(), err)
		}
		if !slices.Equal(again, entries) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, entries)
		}
	})
}

// assignFile100k is a users/assign of 100,000 lines as qmail-pw2u writes
// them: per user an "=" line and a "+" line.
func assignFile100k() []byte {
	var b bytes.Buffer
	for i := range 50_000 {
		fmt.Fprintf(&b, "=user%d:user%d:%d:100:/home/user%d:::\n", i, i, 1000+i, i)
		fmt.Fprintf(&b, "+user%d-:user%d:%d:100:/home/user%d:-::\n", i, i, 1000+i, i)
	}
	b.WriteString(".\n")
	return b.Bytes()
}

func BenchmarkParseAssign100k(b *testing.B) {
	in := assignFile100k()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		entries, err := ParseAssign(bytes.NewReader(in), "assign")
		if err != nil {
			b.Fatal(err)
		}
		if len(entries) != 100_000 {
			b.Fatalf("got %d entries, want 100000", len(entries))
		}
	}
}
