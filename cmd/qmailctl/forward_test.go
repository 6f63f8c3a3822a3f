package main

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/address"
)

func TestSelfLinesDropDotForward(t *testing.T) {
	for dd, want := range map[string][]string{
		"./Mailbox":                        {"./Mailbox"},
		"|dot-forward .forward\n./Mailbox": {"./Mailbox"},
		"|/var/qmail/bin/dot-forward .forward\n./Maildir/": {"./Maildir/"},
		"|preline procmail\n./Mailbox":                     {"|preline procmail", "./Mailbox"},
	} {
		if got := selfLines(dd); !reflect.DeepEqual(got, want) {
			t.Errorf("selfLines(%q) = %q, want %q", dd, got, want)
		}
	}
}

// convert as whoever runs the test: the home is theirs.
func TestConvertWritesOnceAndRefusesWhatItCannot(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	c := &converter{
		q:      address.Qualifier{DefaultHost: "mail.example.org", DefaultDomain: "example.org", PlusDomain: "example.org"},
		isHost: func(string) bool { return false },
		self:   []string{"./Mailbox"},
	}
	home := t.TempDir()
	fwd := filepath.Join(home, ".forward")
	os.WriteFile(fwd, []byte("bob, \\"+me.Username+"\n"), 0o755)
	lines, _, err := c.convert(home)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"&bob@mail.example.org", "./Mailbox"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
	fi, err := os.Stat(filepath.Join(home, ".qmail"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf(".qmail mode %04o, want 0644 (no execute bit: that would be qmail's forward-only mode)", fi.Mode().Perm())
	}
	var nc notConverted
	if _, _, err := c.convert(home); !errors.As(err, &nc) {
		t.Errorf("second run: %v, want not converted", err)
	}

	for name, setup := range map[string]func(home string){
		"a symbolic link": func(home string) { os.Symlink("/etc/passwd", filepath.Join(home, ".forward")) },
		"group writable": func(home string) {
			os.WriteFile(filepath.Join(home, ".forward"), []byte("bob\n"), 0o664)
			os.Chmod(filepath.Join(home, ".forward"), 0o664)
		},
		"a bad line": func(home string) { os.WriteFile(filepath.Join(home, ".forward"), []byte("bob\n\"x\n"), 0o644) },
	} {
		home := t.TempDir()
		setup(home)
		if _, _, err := c.convert(home); !errors.As(err, &nc) {
			t.Errorf("%s: %v, want not converted", name, err)
		}
		if _, err := os.Lstat(filepath.Join(home, ".qmail")); err == nil {
			t.Errorf("%s: a .qmail was written", name)
		}
		if name == "a bad line" && !strings.Contains(nc.reason, "line 2") {
			t.Errorf("%s: reason %q does not name line 2", name, nc.reason)
		}
	}
}
