package localdeliver

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
	"github.com/gqmail/gqmail/store"
)

// forwardHome makes a home with a Maildir and the given files (mode 0644
// unless named in modes), and a control directory beside it.
func forwardHome(t *testing.T, files map[string]string) (home, ctl string) {
	t.Helper()
	base := t.TempDir()
	home, ctl = filepath.Join(base, "home"), filepath.Join(base, "control")
	for _, d := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(home, "Maildir", d), 0o700)
	}
	os.MkdirAll(ctl, 0o755)
	os.WriteFile(filepath.Join(ctl, "me"), []byte("mail.example.org\n"), 0o644)
	os.WriteFile(filepath.Join(ctl, "defaultdomain"), []byte("example.org\n"), 0o644)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(home, name), []byte(strings.ReplaceAll(text, "$HOME", home)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return home, ctl
}

func deliverForward(t *testing.T, home, ctl, defaultDelivery string) *Response {
	t.Helper()
	c := &childDeliverer{maildir: &mailbox.Maildir{Host: "test"}, mbox: &mailbox.Mbox{}, control: control.Open(ctl, nil)}
	j := &job{
		Identity:        Identity{Assignment: store.Assignment{User: "joe", Home: home}, Local: "joe", Domain: "example.org"},
		Sender:          "s@example.org",
		DefaultDelivery: defaultDelivery,
		Message:         []byte("Subject: x\n\nbody\n"),
	}
	return c.deliver(j)
}

func maildirCount(t *testing.T, home string) int {
	t.Helper()
	files, err := os.ReadDir(filepath.Join(home, "Maildir", "new"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

func TestDotForwardBuiltIn(t *testing.T) {
	const qmail = "|dot-forward .forward\n./Maildir/\n"
	cases := []struct {
		name     string
		files    map[string]string
		dd       string
		report   string   // the report's last line, on success
		forwards []string // on success
		maildir  int      // messages in Maildir/new
		fail     string   // the failure's text, when it fails
		perm     bool
		check    func(t *testing.T, home string)
	}{
		{
			name: "an address and a pipe and a file and \\user",
			files: map[string]string{".qmail": qmail,
				".forward": "# joe's\nbob, \"|cat > prog-out; id -u > prog-uid\"\n$HOME/saved\n\\joe\n"},
			report: "did 2+1+1\n", forwards: []string{"bob@mail.example.org"}, maildir: 1,
			check: func(t *testing.T, home string) {
				out, _ := os.ReadFile(filepath.Join(home, "prog-out"))
				if !strings.HasPrefix(string(out), "From s@example.org ") ||
					!strings.Contains(string(out), "\nReturn-Path: <s@example.org>\nDelivered-To: joe@example.org\nSubject: x\n\nbody\n") {
					t.Errorf("the program read %q, want UFLINE, RPLINE, DTLINE and the message", out)
				}
				saved, _ := os.ReadFile(filepath.Join(home, "saved"))
				if !strings.HasPrefix(string(saved), "From s@example.org ") || !strings.Contains(string(saved), "\nbody\n") {
					t.Errorf("the file holds %q, want the message in mbox form", saved)
				}
			},
		},
		{
			name:   "without \\user the rest of .qmail is skipped",
			files:  map[string]string{".qmail": qmail, ".forward": "bob@x.example, carol@y.example\n"},
			report: "did 0+2+0\n", forwards: []string{"bob@x.example", "carol@y.example"}, maildir: 0,
		},
		{
			name:   "the user's address on this host counts as \\user",
			files:  map[string]string{".qmail": qmail, ".forward": "bob@x.example, joe@example.org\n"},
			report: "did 1+1+0\n", forwards: []string{"bob@x.example"}, maildir: 1,
		},
		{
			name:   "a missing .forward goes on with the next line",
			files:  map[string]string{".qmail": qmail},
			report: "did 1+0+0\n", maildir: 1,
		},
		{
			name:   "an empty .forward goes on with the next line",
			files:  map[string]string{".qmail": qmail, ".forward": ""},
			report: "did 1+0+0\n", maildir: 1,
		},
		{
			name:   "a .forward of comments goes on with the next line",
			files:  map[string]string{".qmail": qmail, ".forward": "# bob@x.example\n\n"},
			report: "did 1+0+0\n", maildir: 1,
		},
		{
			name:   "the first file that says something is used",
			files:  map[string]string{".qmail": "|/var/qmail/bin/dot-forward .forward-a .forward-b .forward\n./Maildir/\n", ".forward-b": "# nothing\n", ".forward": "bob@x.example\n"},
			report: "did 0+1+0\n", forwards: []string{"bob@x.example"}, maildir: 0,
		},
		{
			name:   "the default delivery may run dot-forward",
			files:  map[string]string{".forward": "bob@x.example, \\joe\n"},
			dd:     "|dot-forward .forward\n./Maildir/",
			report: "did 1+1+0\n", forwards: []string{"bob@x.example"}, maildir: 1,
		},
		{
			name:   "-n only says what it would do",
			files:  map[string]string{".qmail": "|dot-forward -n .forward\n./Maildir/\n", ".forward": "bob@x.example\n"},
			report: "did 1+0+0\n", maildir: 1,
		},
		{
			name:  "a program exiting 100 bounces, and nothing is forwarded",
			files: map[string]string{".qmail": qmail, ".forward": "bob@x.example, \"|echo no such person; exit 100\"\n"},
			fail:  "no such person\n", perm: true,
		},
		{
			name:  "a program exiting 99 defers, as in dot-forward",
			files: map[string]string{".qmail": qmail, ".forward": "\"|exit 99\"\n"},
			fail:  "Program exited 99. (#4.0.0)",
		},
		{
			name:  ":include: defers, naming the line",
			files: map[string]string{".qmail": qmail, ".forward": "bob\n:include: /etc/list\n"},
			fail:  "Unable to parse .forward line 2: :include: is not supported. (#4.3.0)",
		},
		{
			name:  "an unparsable line defers",
			files: map[string]string{".qmail": qmail, ".forward": "\"bob\n"},
			fail:  "Unable to parse .forward line 1: an unclosed quote, comment, domain literal or angle bracket. (#4.3.0)",
		},
		{
			name:  "a directory named .forward defers",
			files: map[string]string{".qmail": qmail, ".forward/x": ""},
			fail:  "Unable to read .forward: not a regular file. (#4.3.0)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home, ctl := forwardHome(t, nil)
			for name, text := range tc.files {
				os.MkdirAll(filepath.Join(home, filepath.Dir(name)), 0o755)
				os.WriteFile(filepath.Join(home, name), []byte(strings.ReplaceAll(text, "$HOME", home)), 0o644)
			}
			dd := tc.dd
			if dd == "" {
				dd = "./Mailbox"
			}
			resp := deliverForward(t, home, ctl, dd)
			if tc.fail != "" {
				if resp.Err == nil {
					t.Fatalf("delivered (%q), want a failure %q", resp.Report, tc.fail)
				}
				if got := outcome.Text(resp.Err); got != tc.fail || outcome.IsPermanent(resp.Err) != tc.perm {
					t.Fatalf("failure %q (permanent %v), want %q (permanent %v)", got, outcome.IsPermanent(resp.Err), tc.fail, tc.perm)
				}
				if len(resp.Forward) != 0 {
					t.Errorf("a failed delivery forwards %q", resp.Forward)
				}
				return
			}
			if resp.Err != nil {
				t.Fatalf("delivery failed: %v", resp.Err)
			}
			if !strings.HasSuffix(resp.Report, tc.report) {
				t.Errorf("report %q, want it to end in %q", resp.Report, tc.report)
			}
			if !reflect.DeepEqual(resp.Forward, tc.forwards) {
				t.Errorf("forwards %q, want %q", resp.Forward, tc.forwards)
			}
			if got := maildirCount(t, home); got != tc.maildir {
				t.Errorf("%d messages in Maildir, want %d", got, tc.maildir)
			}
			if tc.check != nil {
				tc.check(t, home)
			}
		})
	}
}

// Writable by the group or others, a .forward could make the user run
// anything: sendmail refuses it, and so does the built-in dot-forward.
func TestDotForwardRefusesAWritableForward(t *testing.T) {
	home, ctl := forwardHome(t, map[string]string{".qmail": "|dot-forward .forward\n./Maildir/\n", ".forward": "\"|touch ran\"\n"})
	if err := os.Chmod(filepath.Join(home, ".forward"), 0o664); err != nil {
		t.Fatal(err)
	}
	resp := deliverForward(t, home, ctl, "./Mailbox")
	if resp.Err == nil || outcome.IsPermanent(resp.Err) || outcome.Text(resp.Err) != "Uh-oh: .forward file is writable. (#4.7.0)" {
		t.Fatalf("delivery: %v %q", resp.Err, resp.Report)
	}
	if _, err := os.Stat(filepath.Join(home, "ran")); err == nil {
		t.Fatal("the program ran")
	}
}

func TestDotForwardPrintsWithN(t *testing.T) {
	home, ctl := forwardHome(t, map[string]string{".qmail": "|dot-forward -n .forward\n./Maildir/\n", ".forward": "bob, \"|prog\", /x/y, \\joe\n"})
	resp := deliverForward(t, home, ctl, "./Mailbox")
	if resp.Err != nil {
		t.Fatal(resp.Err)
	}
	want := "dot-forward: .forward: forward bob@mail.example.org\ndot-forward: .forward: pipe through prog\ndot-forward: .forward: file /x/y\ndot-forward: .forward: direct delivery\ndid 1+0+0\n"
	if resp.Report != want {
		t.Errorf("report %q, want %q", resp.Report, want)
	}
}
