package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run runs one of the built commands with env added, and returns its
// output and exit code.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin(name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("%s %v: %v", name, args, err)
	return "", -1
}

// qmaild and qmailctl take the same flags, give qmail's exit codes, find
// the same default root and refuse a directory that is not a root,
// naming what is missing.
func TestCommandsAgreeOnFlagsAndExitCodes(t *testing.T) {
	empty := t.TempDir()
	cases := []struct {
		name string
		env  []string
		cmd  string
		args []string
		code int
		want []string
	}{
		{"qmaild help", nil, "qmaild", []string{"--help"}, 0, []string{"usage: qmaild [--root DIR]", "$GQMAIL_ROOT if set, else /var/qmail"}},
		{"qmailctl help", nil, "qmailctl", []string{"--help"}, 0, []string{"--root", "$GQMAIL_ROOT if set, else /var/qmail"}},
		{"qmaild -h", nil, "qmaild", []string{"-h"}, 0, []string{"usage: qmaild"}},
		{"qmailctl -h", nil, "qmailctl", []string{"-h"}, 0, []string{"Usage:"}},
		{"qmaild version", nil, "qmaild", []string{"--version"}, 0, []string{"qmaild (github.com/gqmail/gqmail) "}},
		{"qmailctl version", nil, "qmailctl", []string{"--version"}, 0, []string{"qmailctl (github.com/gqmail/gqmail) "}},
		{"qmaild unknown flag", nil, "qmaild", []string{"--bogus"}, 100, []string{"flag provided but not defined"}},
		{"qmaild unknown mode", nil, "qmaild", []string{"--root", empty, "frob"}, 100, []string{"unknown arguments"}},
		{"qmailctl unknown flag", nil, "qmailctl", []string{"--bogus"}, 100, []string{"usage: unknown flag"}},
		{"qmailctl unknown command", nil, "qmailctl", []string{"frob"}, 100, []string{`unknown command "frob"`}},
		{"qmailctl group alone", nil, "qmailctl", []string{"users"}, 100, []string{"needs one of its commands"}},
		{"qmailctl missing argument", nil, "qmailctl", []string{"users", "show"}, 100, []string{"accepts 1 arg"}},
		{"qmailctl on a directory that is no root", nil, "qmailctl", []string{"--root", empty, "users", "export"}, 111,
			[]string{empty + " is not a gqmail root: " + filepath.Join(empty, "control") + " is missing"}},
		{"qmaild smtpd on a directory that is no root", nil, "qmaild", []string{"--root", empty, "smtpd"}, 111,
			[]string{empty + " is not a gqmail root: " + filepath.Join(empty, "control") + " is missing"}},
		{"qmailctl finds its root in GQMAIL_ROOT", []string{"GQMAIL_ROOT=" + empty}, "qmailctl", []string{"users", "show", "x@y"}, 111,
			[]string{empty + " is not a gqmail root"}},
		{"qmaild finds its root in GQMAIL_ROOT", []string{"GQMAIL_ROOT=" + empty}, "qmaild", []string{"smtpd"}, 111,
			[]string{empty + " is not a gqmail root"}},
	}
	// When the build recorded a revision (go build stamps one in a git
	// checkout unless told not to), --version names it.
	if info, err := exec.Command("go", "version", "-m", bin("qmaild")).Output(); err == nil {
		if m := regexp.MustCompile(`vcs\.revision=(\w+)`).FindSubmatch(info); m != nil {
			cases[4].want = append(cases[4].want, "revision "+string(m[1]))
			cases[5].want = append(cases[5].want, "revision "+string(m[1]))
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.env, tc.cmd, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// qmailctl users show exits as the delivery would end: 0 delivered or
// sent on, 100 bounced, 111 deferred.
func TestUsersShowExitsAsTheDeliveryWouldEnd(t *testing.T) {
	acct := daemonAccount(t) // not root: qmail never delivers as root
	root := filepath.Join(t.TempDir(), "root")
	home := scratch(t, acct)
	write(t, filepath.Join(root, "qmail.toml"), "[users]\nalias = \"no-such-alias-account\"\n")
	write(t, filepath.Join(root, "control", "me"), "localhost\n")
	write(t, filepath.Join(root, "control", "locals"), "localhost\n")
	write(t, filepath.Join(home, ".qmail-there"), "./Maildir/\n")
	chownTree(t, home, acct)
	os.MkdirAll(filepath.Join(root, "users"), 0o755)
	assign := filepath.Join(t.TempDir(), "assign")
	write(t, assign, fmt.Sprintf("+joe-:%s:%d:%d:%s:-::\n.\n", acct.name, acct.uid, acct.gid, home))
	if out, code := run(t, nil, "qmailctl", "--root", root, "users", "import", assign); code != 0 {
		t.Fatalf("import: %d\n%s", code, out)
	}
	for _, tc := range []struct {
		address string
		code    int
		want    string
	}{
		{"x@remote.example", 0, "channel: remote"},
		{"joe-there@localhost", 0, "dot-qmail: .qmail-there"},
		{"joe-nothere@localhost", 100, "delivery: failure: Sorry, no mailbox here by that name. (#5.1.1)"},
		{"nobody-at-all@localhost", 111, "delivery: deferral: "},
	} {
		out, code := run(t, nil, "qmailctl", "--root", root, "users", "show", tc.address)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("users show %s: exit %d, want %d and %q:\n%s", tc.address, code, tc.code, tc.want, out)
		}
	}
}
