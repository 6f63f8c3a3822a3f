package aliases

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeIncludes serves include files from a map, owned by root, mode 0644.
func fakeIncludes(files map[string]string) Options {
	return Options{ReadInclude: func(path string) ([]byte, IncludeInfo, error) {
		data, ok := files[path]
		if !ok {
			return nil, IncludeInfo{}, &os.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		info := IncludeInfo{UID: 0, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		if strings.HasPrefix(path, "/writable") {
			info.Mode = 0o666
		}
		if strings.HasPrefix(path, "/secret") {
			info.Mode = 0o640
		}
		if strings.HasPrefix(path, "/home/joe") {
			info.UID = 12345
		}
		return []byte(data), info, nil
	}}
}

func parse(t *testing.T, src string, files map[string]string) (*Parsed, error) {
	t.Helper()
	return ParseFile(strings.NewReader(src), "aliases", fakeIncludes(files))
}

func TestParseGoodFile(t *testing.T) {
	src := `# sendmail aliases
postmaster: root
root: joe, ann@example.org
# a comment that goes on
  over a continuation: not an alias

staff: joe,
	ann,

	"Bob Smith" <bob@example.org>, carl (Carl the intern)
archive: /var/mail/archive, "|/usr/bin/logger -t mail"
list: :include:/etc/mail/list
owner-list: joe
quoted: "|/bin/prog a, b", "/var/mail/with space"
Mixed@Example.ORG: \joe
@catch.example: joe
`
	p, err := parse(t, src, map[string]string{"/etc/mail/list": "# members\nx@example.org, y@example.org\n\nz\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Alias{
		{Name: "postmaster", Line: 2, Targets: []Target{{Kind: Address, Value: "root"}}},
		{Name: "root", Line: 3, Targets: []Target{{Kind: Address, Value: "joe"}, {Kind: Address, Value: "ann@example.org"}}},
		{Name: "staff", Line: 7, Targets: []Target{{Kind: Address, Value: "joe"}, {Kind: Address, Value: "ann"}, {Kind: Address, Value: "bob@example.org"}, {Kind: Address, Value: "carl"}}},
		{Name: "archive", Line: 11, Targets: []Target{{Kind: File, Value: "/var/mail/archive"}, {Kind: Program, Value: "/usr/bin/logger -t mail"}}},
		{Name: "list", Line: 12, Owner: "owner-list", Targets: []Target{{Kind: Include, Value: "/etc/mail/list", Targets: []Target{
			{Kind: Address, Value: "x@example.org"}, {Kind: Address, Value: "y@example.org"}, {Kind: Address, Value: "z"}}}}},
		{Name: "owner-list", Line: 13, Targets: []Target{{Kind: Address, Value: "joe"}}},
		{Name: "quoted", Line: 14, Targets: []Target{{Kind: Program, Value: "/bin/prog a, b"}, {Kind: File, Value: "/var/mail/with space"}}},
		{Name: "Mixed@Example.ORG", Line: 15, Targets: []Target{{Kind: Address, Value: "joe", NoExpand: true}}},
		{Name: "@catch.example", Line: 16, Targets: []Target{{Kind: Address, Value: "joe"}}},
	}
	if !reflect.DeepEqual(p.Aliases, want) {
		t.Errorf("aliases:\n got %+v\nwant %+v", p.Aliases, want)
	}
	if len(p.Includes) != 1 || p.Includes[0].Path != "/etc/mail/list" || p.Includes[0].Size != 42 || len(p.Includes[0].SHA256) != 64 {
		t.Errorf("includes: %+v", p.Includes)
	}
}

func TestEveryBadLineIsReportedWithItsNumber(t *testing.T) {
	src := strings.Join([]string{
		"  continuation first",              // 1
		"nocolon joe",                       // 2
		": joe",                             // 3
		"bad name: joe",                     // 4
		"empty:",                            // 5
		"q: \"|unterminated",                // 6
		"c: joe (unterminated",              // 7
		"a: <joe@x",                         // 8
		"sp: jo\x01e",                       // 9
		"long: " + strings.Repeat("x", 801), // 10
		"at: @host",                         // 11
		"prog: |",                           // 12
		"rel: :include:etc/list",            // 13
		"dir: /var/mail/",                   // 14
		"missing: :include:/nope",           // 15
		"wr: :include:/writable/list",       // 16
		"joe: :include:/home/joe/list",      // 17
		"nested: :include:/nested",          // 18
		"dup: joe",                          // 19
		"DUP: ann",                          // 20
		"dos: joe\r",                        // 21
		"nul: jo\x00e",                      // 22
		"loop1: loop2",                      // 23
		"loop2: x, loop1",                   // 24
		"self: \\self, self",                // 25
		"ok: \\ok",                          // 26
		"secret: :include:/secret/shadow",   // 27
		"bad\x00line",                       // 28
		"  continues the bad line: x",       // 29
	}, "\n") + "\n"
	_, err := parse(t, src, map[string]string{
		"/writable/list": "x\n",
		"/home/joe/list": "x\n|/bin/evil\n",
		"/nested":        "x\n:include:/etc/other\n",
		"/secret/shadow": "root:$6$hash\n",
	})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want an *Error", err)
	}
	want := map[int]string{
		1:  reasonContinuation,
		2:  reasonNoColon,
		3:  reasonEmptyName,
		4:  reasonBadName,
		5:  reasonNoTargets,
		6:  reasonQuote,
		7:  reasonComment,
		8:  reasonAngle,
		9:  reasonBadAddress,
		10: reasonLongAddress,
		11: reasonEmptyLocal,
		12: reasonEmptyProgram,
		13: reasonInclRelative,
		14: reasonFileDir,
		15: ":include: /nope: file does not exist",
		16: ":include: /writable/list has mode 0666: others than its owner may change it",
		17: ":include: /home/joe/list belongs to uid 12345 and holds programs or files, which would run as the alias account",
		18: ":include: /nested line 2: " + reasonInclNested,
		20: `duplicate alias "DUP": first defined on line 19`,
		21: reasonCR,
		22: reasonNUL,
		23: "alias loop: loop1 -> loop2 -> loop1",
		25: "alias loop: self -> self",
		27: ":include: /secret/shadow has mode 0640: not readable by everyone",
		28: reasonNUL,
	}
	got := map[int]string{}
	for _, l := range e.Lines {
		if got[l.Line] != "" {
			t.Errorf("line %d reported twice: %q and %q", l.Line, got[l.Line], l.Reason)
		}
		got[l.Line] = l.Reason
	}
	if !reflect.DeepEqual(got, want) {
		for n := 1; n <= 29; n++ {
			if got[n] != want[n] {
				t.Errorf("line %d: got %q, want %q", n, got[n], want[n])
			}
		}
	}
	if !strings.Contains(e.Error(), `aliases line 20: duplicate alias "DUP": first defined on line 19: "DUP: ann"`) {
		t.Errorf("message does not name both lines:\n%s", e.Error())
	}
}

func TestLoopThroughAnIncludeIsNamed(t *testing.T) {
	src := "a: b\nb: :include:/etc/list\nc: d\nd: c@example.org\n"
	_, err := parse(t, src, map[string]string{"/etc/list": "x, a\n"})
	if err == nil || !strings.Contains(err.Error(), "aliases line 1: alias loop: a -> b -> a") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "line 3") {
		t.Errorf("a qualified target is not an edge to a bare alias: %v", err)
	}
}

func TestEmptyLinesDoNotEndAContinuation(t *testing.T) {
	p, err := parse(t, "a: x,\n\n  y\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Aliases[0].Targets; len(got) != 2 || got[1].Value != "y" {
		t.Errorf("targets %+v", got)
	}
}

func TestLinesQualifyDedupeAndExpandIncludes(t *testing.T) {
	p, err := parse(t, "list: joe, x@other.org, :include:/l, |prog arg, /var/mail/f, joe\nowner-list: joe\n", map[string]string{"/l": "ann\njoe\n"})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Aliases[0]
	want := "&joe@example.org\n&x@other.org\n&ann@example.org\n|prog arg\n/var/mail/f\n"
	if got := string(a.Lines("example.org")); got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
	owner := a.OwnerAddress("example.org")
	if owner != "owner-list@example.org" {
		t.Errorf("owner %q", owner)
	}
	for sender, want := range map[string]string{"bob@x.org": owner, "": "", "#@[]": "#@[]"} {
		if got := EnvelopeSender(sender, owner); got != want {
			t.Errorf("EnvelopeSender(%q) = %q, want %q", sender, got, want)
		}
	}
}

func TestFormatReadsBackTheSame(t *testing.T) {
	src := `a: joe, \a, x@y.org
b: "|/bin/prog a, b \"q\"", /var/mail/f, "/var/mail/with space"
c: :include:/etc/list
@d.example: joe
`
	files := map[string]string{"/etc/list": "m1\nm2\n"}
	p, err := parse(t, src, files)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Format(&buf, p); err != nil {
		t.Fatal(err)
	}
	q, err := parse(t, buf.String(), files)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(p.Aliases, q.Aliases) {
		t.Errorf("round trip:\n%s\n got %+v\nwant %+v", buf.String(), q.Aliases, p.Aliases)
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add("a: b, c\n  d\n# x\nowner-a: e\n")
	f.Add("b: \"|x, y\", /f, <q@r> (c)\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := parse(t, src, map[string]string{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Lines) == 0 {
				t.Fatalf("error %v is not a list of lines", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Format(&buf, p); err != nil {
			t.Fatal(err)
		}
		q, err := parse(t, buf.String(), map[string]string{})
		if err != nil {
			t.Fatalf("output of %q does not parse: %v\n%s", src, err, buf.String())
		}
		if len(p.Aliases) != len(q.Aliases) {
			t.Fatalf("%d aliases read back as %d", len(p.Aliases), len(q.Aliases))
		}
		for i := range p.Aliases {
			if !reflect.DeepEqual(p.Aliases[i].Targets, q.Aliases[i].Targets) || p.Aliases[i].Name != q.Aliases[i].Name {
				t.Fatalf("alias %d read back differently:\n got %+v\nwant %+v", i, q.Aliases[i], p.Aliases[i])
			}
		}
	})
}
