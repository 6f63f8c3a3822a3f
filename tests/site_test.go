package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// userDaemon is the account qmaild runs as on a real-user site.
const userDaemon = "qmaild"

// realSite is a gqmail root run as root, as a system installs it:
// qmaild's own account, and real Unix accounts, made with useradd, whose
// homes hold their .qmail and .forward files. The accounts are kept
// between runs (each test names its own); their homes are made afresh in
// the test's scratch directory.
type realSite struct {
	base  string // the scratch directory, holding root/, home/ and what else the test puts there
	root  string
	homes string // where home makes the accounts' homes
	addr  string // where qmaild serves SMTP, once configure has run
}

// newRealSite skips the test unless it runs as root with useradd,
// usermod and programs installed, and makes the scratch directory, its
// home/, and qmaild's account if there is none.
func newRealSite(t *testing.T, programs ...string) *realSite {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes users with useradd and runs the daemon as root, delivering as those users")
	}
	need(t, append([]string{"useradd", "usermod"}, programs...)...)
	base := scratch(t, account{"root", 0, 0})
	s := &realSite{base: base, root: filepath.Join(base, "root"), homes: filepath.Join(base, "home")}
	if err := os.MkdirAll(s.homes, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Lookup(userDaemon); err != nil {
		realUser(t, userDaemon, "/nonexistent", "--system")
	}
	return s
}

// home is where the account name's home is.
func (s *realSite) home(name string) string { return filepath.Join(s.homes, name) }

// aliasHome is ~alias: qmaild makes it at its start.
func (s *realSite) aliasHome() string { return filepath.Join(s.root, "alias") }

// user makes (or resets) the account name with its home made afresh,
// holding files, all of it owned by the account.
func (s *realSite) user(t *testing.T, name string, files map[string]string) account {
	t.Helper()
	acct := realUser(t, name, s.home(name))
	makeHome(t, s.home(name), acct, files)
	return acct
}

// aliasUser makes (or resets) the account name with ~alias as its home,
// to be the root's alias account.
func (s *realSite) aliasUser(t *testing.T, name string) account {
	t.Helper()
	return realUser(t, name, s.aliasHome())
}

// siteConfig is what a real-user site's qmail.toml and control files say
// beyond what every such site's do: listen on the site's address, run as
// qmaild, and ask no name server.
type siteConfig struct {
	defaultDelivery string            // [delivery] defaultdelivery; "" for gqmail's default
	alias           string            // [users] alias: the alias account
	postmaster      string            // [users] postmaster; "" for gqmail's default
	controls        map[string]string // control/NAME: its text
}

// configure picks the site's address and writes its qmail.toml and
// control files.
func (s *realSite) configure(t *testing.T, c siteConfig) {
	t.Helper()
	s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var toml strings.Builder
	fmt.Fprintf(&toml, "[smtp]\nlisten = [%q]\n", s.addr)
	if c.defaultDelivery != "" {
		fmt.Fprintf(&toml, "[delivery]\ndefaultdelivery = %q\n", c.defaultDelivery)
	}
	fmt.Fprintf(&toml, "[users]\ndaemon = %q\nalias = %q\n", userDaemon, c.alias)
	if c.postmaster != "" {
		fmt.Fprintf(&toml, "postmaster = %q\n", c.postmaster)
	}
	toml.WriteString("[dns]\nservers = [\"127.0.0.1:9\"]\n")
	write(t, filepath.Join(s.root, "qmail.toml"), toml.String())
	for name, text := range c.controls {
		write(t, filepath.Join(s.root, "control", name), text)
	}
}

// start starts qmaild on the site as root, with extra descriptors left
// open in it as startDaemonWith does, and waits until it serves SMTP.
func (s *realSite) start(t *testing.T, extra ...*os.File) *daemon {
	t.Helper()
	return startDaemonWith(t, s.root, s.addr, account{"root", 0, 0}, extra)
}

// realUser makes the account name with home as its home directory, or,
// when it exists, moves its home there (but a uid 0 account's, which
// usermod refuses to change while root runs processes). It makes no
// directory: see makeHome.
func realUser(t *testing.T, name, home string, extra ...string) account {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		args := append([]string{"--no-create-home", "--shell", "/bin/sh", "--home-dir", home}, extra...)
		if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
	} else if u, _ := user.Lookup(name); u.HomeDir != home && u.Uid != "0" {
		if out, err := exec.Command("usermod", "--home", home, name).CombinedOutput(); err != nil {
			t.Fatalf("usermod %s: %v: %s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{name, uid, gid}
}

// makeHome makes dir afresh, mode 0755, with the given files (mode
// 0644), everything owned by acct.
func makeHome(t *testing.T, dir string, acct account, files map[string]string) {
	t.Helper()
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		write(t, filepath.Join(dir, name), text)
	}
	chownTree(t, dir, acct)
}

// makeMaildir makes the maildir dir, with tmp, new and cur, mode 0700,
// owned by acct.
func makeMaildir(t *testing.T, dir string, acct account) {
	t.Helper()
	for _, d := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, dir, acct)
}
