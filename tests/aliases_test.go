package tests

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The accounts of the aliases test, made with useradd and kept between
// runs; their homes are made afresh.
const (
	aliasJoe  = "gq11joe"
	aliasAnn  = "gq11ann"
	aliasReal = "gq11real" // a real user with an alias of the same name
	aliasAcct = "gq11alias"
)

// TestAliasesFileAsSendmailWould imports an /etc/aliases with lists,
// :include:, pipes, files, a loop and a duplicate; then, fixed, through
// newaliases into a running root daemon, and checks that mail to each
// alias lands where sendmail would put it, that programs and files run
// as the alias account, and that a real user named like an alias gets
// their own mail.
func TestAliasesFileAsSendmailWould(t *testing.T) {
	s := newRealSite(t)
	base, root := s.base, s.root
	hJoe, hAnn, hReal := s.home(aliasJoe), s.home(aliasAnn), s.home(aliasReal)
	s.user(t, aliasJoe, nil)
	s.user(t, aliasAnn, nil)
	s.user(t, aliasReal, nil)
	alias := s.aliasUser(t, aliasAcct)

	// Where the alias account writes: a directory of its own.
	out := filepath.Join(base, "out")
	os.MkdirAll(out, 0o755)
	os.Chown(out, alias.uid, alias.gid)
	members := filepath.Join(base, "list-members")
	write(t, members, "# the list\n"+aliasJoe+"\n"+aliasAnn+"@localhost\n")

	broken := fmt.Sprintf(`# gqmail's aliases test
staff: %[1]s,
	%[2]s
list: :include:%[3]s
owner-list: %[1]s
archive: %[4]s/archive.mbox
prog: "|id -u > %[4]s/prog-uid; cat > %[4]s/prog-msg"
%[5]s: %[2]s
nested: staff
loopa: loopb
loopb: x@example.org,
  loopa
staff: %[2]s
no colon here
`, aliasJoe, aliasAnn, members, out, aliasReal)
	fixed := strings.Join(strings.Split(broken, "\n")[:9], "\n") + "\n"
	aliasesFile := filepath.Join(base, "aliases")
	write(t, aliasesFile, broken)

	s.configure(t, siteConfig{
		defaultDelivery: "./Mailbox",
		alias:           aliasAcct,
		postmaster:      aliasJoe + "@localhost",
		controls:        map[string]string{"me": "localhost\n", "rcpthosts": "localhost\n"},
	})
	addr := s.addr

	// The broken file: every bad line named, nothing imported.
	cmd := exec.Command(bin("qmailctl"), "--root", root, "aliases", "import", aliasesFile)
	got, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 111 {
		t.Fatalf("import of the broken file: exit %d, %v:\n%s", code, err, got)
	}
	for _, want := range []string{
		aliasesFile + ` line 10: alias loop: loopa -> loopb -> loopa: "loopa: loopb"`,
		aliasesFile + ` line 13: duplicate alias "staff": first defined on line 2: "staff: ` + aliasAnn + `"`,
		aliasesFile + ` line 14: no ":" after the alias name: "no colon here"`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("the import's errors lack %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "users", "aliases.db")); err == nil {
		t.Fatal("a broken file made a table")
	}

	d := s.start(t)

	// Fixed, through newaliases, while the daemon runs.
	write(t, aliasesFile, fixed)
	if got, err := exec.Command(bin("newaliases"), "--root", root, aliasesFile).CombinedOutput(); err != nil {
		t.Fatalf("newaliases: %v:\n%s", err, got)
	}
	if got, err := exec.Command(bin("qmailctl"), "--root", root, "aliases", "show", "nested@localhost").CombinedOutput(); err != nil ||
		!strings.Contains(string(got), "forward staff@localhost") || !strings.Contains(string(got), "forward "+aliasAnn+"@localhost") {
		t.Errorf("aliases show nested: %v:\n%s", err, got)
	}
	// users show follows an address all the way to the aliases table.
	if got, err := exec.Command(bin("qmailctl"), "--root", root, "users", "show", "staff@localhost").CombinedOutput(); err != nil ||
		!strings.Contains(string(got), "alias: staff (users/aliases.db)") || !strings.Contains(string(got), "&"+aliasJoe+"@localhost") {
		t.Errorf("users show staff: %v:\n%s", err, got)
	}

	qmailctl := func(args ...string) (string, int) {
		cmd := exec.Command(bin("qmailctl"), append([]string{"--root", root, "aliases"}, args...)...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if got, code := qmailctl("export"); code != 0 || !strings.HasPrefix(got, "staff: "+aliasJoe+", "+aliasAnn+"\nlist: :include:"+members+"\n") {
		t.Errorf("aliases export: exit %d:\n%s", code, got)
	}
	if got, code := qmailctl("check"); code != 0 {
		t.Errorf("aliases check right after the import: exit %d:\n%s", code, got)
	}
	write(t, members+".new", readFile(t, members)+"# one more line\n")
	os.Rename(members+".new", members)
	if got, code := qmailctl("check"); code != 100 || !strings.Contains(got, members+": size ") {
		t.Errorf("aliases check after the include changed: exit %d:\n%s", code, got)
	}

	// A local address that is no alias, no user and no ~alias file is
	// refused at RCPT; aliases are taken.
	if err := smtp.SendMail(addr, nil, "s@example.org", []string{"nosuch@localhost"}, []byte("Subject: x\r\n\r\nx\r\n")); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("mail to nosuch@localhost: %v, want a 550", err)
	}
	msg := func(token string) string {
		return "Subject: " + token + "\r\n\r\nbody of " + token + "\r\nFrom the start of a line\r\n"
	}
	mailbox := func(h string) string { return filepath.Join(h, "Mailbox") }
	waitIn := func(t *testing.T, path, token string) string {
		t.Helper()
		var text string
		waitFor(t, token+" in "+path, 30*time.Second, func() bool {
			b, _ := os.ReadFile(path)
			text = string(b)
			return strings.Contains(text, token)
		})
		return text
	}

	cases := []struct {
		name, rcpt string
		check      func(t *testing.T, token string)
	}{
		{"a list with a continuation line reaches every member", "staff@localhost", func(t *testing.T, token string) {
			waitIn(t, mailbox(hJoe), token)
			waitIn(t, mailbox(hAnn), token)
		}},
		{"an :include: list reaches its members from its owner", "list@localhost", func(t *testing.T, token string) {
			for _, h := range []string{hJoe, hAnn} {
				text := waitIn(t, mailbox(h), token)
				if !strings.Contains(text, "Return-Path: <owner-list@localhost>") {
					t.Errorf("%s: the list's copy is not from owner-list@localhost:\n%s", mailbox(h), text)
				}
			}
		}},
		{"a file gets the message appended as the alias account", "archive@localhost", func(t *testing.T, token string) {
			box := filepath.Join(out, "archive.mbox")
			text := waitIn(t, box, token)
			if !strings.HasPrefix(text, "From s@example.org ") || !strings.Contains(text, "\n>From the start of a line\n") {
				t.Errorf("%s is not an mbox:\n%s", box, text)
			}
			if owner := fileOwner(t, box); owner != alias.uid {
				t.Errorf("%s belongs to uid %d, want the alias account's %d", box, owner, alias.uid)
			}
		}},
		{"a program runs as the alias account", "prog@localhost", func(t *testing.T, token string) {
			waitIn(t, filepath.Join(out, "prog-msg"), token)
			uidFile := filepath.Join(out, "prog-uid")
			if got := strings.TrimSpace(readFile(t, uidFile)); got != strconv.Itoa(alias.uid) {
				t.Errorf("the program ran as uid %s, want the alias account's %d", got, alias.uid)
			}
			if owner := fileOwner(t, uidFile); owner != alias.uid {
				t.Errorf("%s belongs to uid %d, want %d", uidFile, owner, alias.uid)
			}
		}},
		{"a real user named like an alias gets their own mail", aliasReal + "@localhost", func(t *testing.T, token string) {
			waitIn(t, mailbox(hReal), token)
			// A copy for the alias would be queued in the transaction
			// that records the delivery to the real user: once the
			// queue is empty, whatever ann was to get, she has.
			waitFor(t, "the queue to empty", 30*time.Second, func() bool { return queueEmpty(t, root) })
			if b, _ := os.ReadFile(mailbox(hAnn)); strings.Contains(string(b), token) {
				t.Error("the alias took mail from the real user")
			}
		}},
		{"an alias of an alias is expanded at the next delivery", "nested@localhost", func(t *testing.T, token string) {
			text := waitIn(t, mailbox(hAnn), token)
			if !strings.Contains(text, "Delivered-To: staff@localhost\nDelivered-To: nested@localhost\n") {
				t.Errorf("the copy through nested and staff lacks their Delivered-To lines:\n%s", text)
			}
			waitIn(t, mailbox(hJoe), token)
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token := fmt.Sprintf("token-alias-%d", i)
			sendMail(t, addr, "s@example.org", c.rcpt, msg(token))
			c.check(t, token)
		})
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", d.log.String())
	}
}
