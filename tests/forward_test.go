package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The accounts of the .forward test, made with useradd and kept between
// runs; their homes are made afresh.
const (
	userFwd   = "gq12fwd"   // has a .forward
	userFwdTo = "gq12fwdb"  // gets what gq12fwd forwards; no .qmail, no .forward
	userFwdAl = "gq12alias" // the alias account
)

// TestDotForwardAsRealUsers delivers to a real user whose .qmail is
// "|dot-forward .forward" then "./Maildir/", with a .forward holding an
// address (another local user), a pipe, a file and \user, through the
// running daemon as root; then runs qmailctl forward convert on homes that
// can and cannot be converted.
func TestDotForwardAsRealUsers(t *testing.T) {
	s := newRealSite(t)
	root := s.root
	hF, hT := s.home(userFwd), s.home(userFwdTo)

	// Paths are quoted: in a .forward, as in RFC 822, "." and "," are
	// special, and the scratch directory's name is the test's.
	saved := filepath.Join(hF, "saved")
	f := s.user(t, userFwd, map[string]string{
		".qmail": "|dot-forward .forward\n./Maildir/\n",
		".forward": "# as sendmail users write them\n" +
			userFwdTo + ", \"|id -u > pipe-uid; cat > pipe-out\"\n" +
			fmt.Sprintf("%q\n", saved) +
			"\\" + userFwd + "\n",
	})
	makeMaildir(t, filepath.Join(hF, "Maildir"), f)
	to := s.user(t, userFwdTo, nil)
	s.aliasUser(t, userFwdAl)

	const host = "mail.example.test"
	s.configure(t, siteConfig{
		defaultDelivery: "|dot-forward .forward\n./Mailbox",
		alias:           userFwdAl,
		controls:        map[string]string{"me": host + "\n", "rcpthosts": host + "\n"},
	})
	addr := s.addr
	d := s.start(t)

	rcpt := userFwd + "@" + host
	sendMail(t, addr, "s@example.org", rcpt, "Subject: token-fwd\r\n\r\nbody of token-fwd\r\n")
	// Files: saved and Maildir; one forward; one program.
	if got := d.waitResult(t, rcpt); !strings.HasPrefix(got, "success: did_2+1+1") {
		t.Fatalf("delivery to %s: %s, want success: did_2+1+1", rcpt, got)
	}
	t.Run("the address: forwarded to the other user with the forwarder's Delivered-To", func(t *testing.T) {
		mb := filepath.Join(hT, "Mailbox")
		waitFor(t, "the forward in "+mb, 20*time.Second, func() bool {
			b, _ := os.ReadFile(mb)
			return strings.Contains(string(b), "token-fwd")
		})
		text := readFile(t, mb)
		if !strings.Contains(text, "\nDelivered-To: "+rcpt+"\n") || !strings.Contains(text, "\nDelivered-To: "+userFwdTo+"@"+host+"\n") {
			t.Errorf("the forwarded copy lacks the Delivered-To lines:\n%s", text)
		}
		if fileOwner(t, mb) != to.uid {
			t.Errorf("%s is not %s's", mb, userFwdTo)
		}
	})
	t.Run("the pipe: run as the user, with the From_, Return-Path and Delivered-To lines", func(t *testing.T) {
		if got := strings.TrimSpace(readFile(t, filepath.Join(hF, "pipe-uid"))); got != strconv.Itoa(f.uid) {
			t.Errorf("the program ran as uid %s, want %d", got, f.uid)
		}
		out := filepath.Join(hF, "pipe-out")
		text := readFile(t, out)
		if !strings.HasPrefix(text, "From s@example.org ") || !strings.Contains(text, "\nReturn-Path: <s@example.org>\nDelivered-To: "+rcpt+"\n") || !strings.Contains(text, "token-fwd") {
			t.Errorf("the program read:\n%s", text)
		}
		if fileOwner(t, out) != f.uid {
			t.Errorf("%s is not the user's", out)
		}
	})
	t.Run("the file: appended as an mbox, as the user", func(t *testing.T) {
		text := readFile(t, saved)
		if !strings.HasPrefix(text, "From s@example.org ") || !strings.Contains(text, "\nDelivered-To: "+rcpt+"\n") || !strings.Contains(text, "body of token-fwd") {
			t.Errorf("%s holds:\n%s", saved, text)
		}
		if fileOwner(t, saved) != f.uid {
			t.Errorf("%s is not the user's", saved)
		}
	})
	t.Run("\\user: the next .qmail line delivers", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(hF, "Maildir", "new", "*"))
		if len(files) != 1 || !strings.Contains(readFile(t, files[0]), "token-fwd") || fileOwner(t, files[0]) != f.uid {
			t.Errorf("Maildir/new: %v", files)
		}
	})

	// A .forward without \user: the rest of the .qmail is skipped.
	write(t, filepath.Join(hF, ".forward"), userFwdTo+"\n")
	chownTree(t, hF, f)
	rcpt2 := userFwd + "-x@" + host
	write(t, filepath.Join(hF, ".qmail-x"), "|dot-forward .forward\n./Maildir/\n")
	chownTree(t, hF, f)
	sendMail(t, addr, "s@example.org", rcpt2, "Subject: token-skip\r\n\r\nbody\r\n")
	if got := d.waitResult(t, rcpt2); !strings.HasPrefix(got, "success: did_0+1+0") {
		t.Fatalf("delivery to %s: %s, want success: did_0+1+0", rcpt2, got)
	}
	waitFor(t, "the second forward", 20*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(hT, "Mailbox"))
		return strings.Contains(string(b), "token-skip")
	})
	if files, _ := filepath.Glob(filepath.Join(hF, "Maildir", "new", "*")); len(files) != 1 {
		t.Errorf("without \\user the next line delivered anyway: %v", files)
	}

	t.Run("qmailctl forward convert", func(t *testing.T) {
		conv := filepath.Join(s.base, "convert")
		ok, exists, include, none := filepath.Join(conv, "ok"), filepath.Join(conv, "exists"), filepath.Join(conv, "include"), filepath.Join(conv, "none")
		makeHome(t, ok, f, map[string]string{".forward": "# vacation\n" + userFwdTo + ", \"|/usr/bin/vacation " + userFwd + "\"\n/var/mail/" + userFwd + "\n\\" + userFwd + "\n"})
		os.Chmod(filepath.Join(ok, ".forward"), 0o640)
		makeHome(t, exists, f, map[string]string{".forward": "x@y.example\n", ".qmail": "./Mailbox\n"})
		makeHome(t, include, f, map[string]string{".forward": "a@b.example\n:include: /etc/list\n"})
		makeHome(t, none, f, nil)
		run := func(args ...string) (string, int) {
			cmd := exec.Command(bin("qmailctl"), append([]string{"--root", root, "forward", "convert"}, args...)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			return string(out), cmd.ProcessState.ExitCode()
		}

		out, code := run("--dry-run", ok, exists, include, none)
		if code != 100 || !strings.Contains(out, ok+": would write .qmail:\n") {
			t.Errorf("dry run: exit %d:\n%s", code, out)
		}
		if _, err := os.Lstat(filepath.Join(ok, ".qmail")); err == nil {
			t.Fatal("--dry-run wrote a .qmail")
		}

		out, code = run(ok, exists, include, none)
		want := ok + ": wrote .qmail:\n" +
			"\t&" + userFwdTo + "@" + host + "\n" +
			"\t|/usr/bin/vacation " + userFwd + "\n" +
			"\t/var/mail/" + userFwd + "\n" +
			"\t./Mailbox\n" +
			ok + ": note: .forward line 2: the program no longer gets dot-forward's From_, Return-Path and Delivered-To lines before the message ($UFLINE, $RPLINE, $DTLINE hold them)\n" +
			exists + ": not converted: a .qmail exists; it is never replaced\n" +
			include + ": not converted: .forward line 2: :include: is not supported: \":include: /etc/list\"\n" +
			none + ": nothing to convert: no .forward\n" +
			"converted 1, not converted 2, nothing to convert 1, failed 0\n"
		if code != 100 || out != want {
			t.Errorf("convert: exit %d, output:\n%s\nwant exit 100 and:\n%s", code, out, want)
		}
		qmail := filepath.Join(ok, ".qmail")
		text := readFile(t, qmail)
		if text != "&"+userFwdTo+"@"+host+"\n|/usr/bin/vacation "+userFwd+"\n/var/mail/"+userFwd+"\n./Mailbox\n" {
			t.Errorf(".qmail holds %q", text)
		}
		fi, err := os.Lstat(qmail)
		if err != nil {
			t.Fatal(err)
		}
		if fileOwner(t, qmail) != f.uid || fi.Mode().Perm() != 0o640 {
			t.Errorf(".qmail: owner %d mode %04o, want %d and 0640", fileOwner(t, qmail), fi.Mode().Perm(), f.uid)
		}
		if got := readFile(t, filepath.Join(exists, ".qmail")); got != "./Mailbox\n" {
			t.Errorf("an existing .qmail was changed: %q", got)
		}
		// A second run replaces nothing.
		if out, code := run(ok); code != 100 || !strings.Contains(out, "not converted: a .qmail exists") {
			t.Errorf("second run: exit %d:\n%s", code, out)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(ok, ".qmail.convert-*")); len(leftovers) != 0 {
			t.Errorf("temporary files left: %v", leftovers)
		}
	})
}
