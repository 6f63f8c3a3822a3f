package links

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bindir makes a directory of "commands" that are gqmail's: links to this
// test binary, which is built from gqmail's module.
func bindir(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"sendmail", "mailq", "qmail-inject", "qmail-queue", "forward", "newaliases"} {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPlanNamesQmailsPlaces(t *testing.T) {
	var got []string
	for _, l := range Plan("/opt/gq/bin", "/var/qmail", "/stage") {
		got = append(got, l.Path+" "+l.Target)
	}
	want := []string{
		"/stage/usr/sbin/sendmail /opt/gq/bin/sendmail",
		"/stage/usr/lib/sendmail /opt/gq/bin/sendmail",
		"/stage/usr/bin/mailq /opt/gq/bin/mailq",
		"/stage/usr/bin/newaliases /opt/gq/bin/newaliases",
		"/stage/var/qmail/bin/sendmail /opt/gq/bin/sendmail",
		"/stage/var/qmail/bin/mailq /opt/gq/bin/mailq",
		"/stage/var/qmail/bin/qmail-inject /opt/gq/bin/qmail-inject",
		"/stage/var/qmail/bin/qmail-queue /opt/gq/bin/qmail-queue",
		"/stage/var/qmail/bin/forward /opt/gq/bin/forward",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s", strings.Join(got, "\n"))
	}
}

func TestInstallLeavesOthersFilesUnlessForced(t *testing.T) {
	bin := bindir(t)
	stage := t.TempDir()
	plan := Plan(bin, "/var/qmail", stage)
	postfix := plan[0].Path
	if err := os.MkdirAll(filepath.Dir(postfix), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(postfix, []byte("#!/bin/sh\necho another MTA\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	for i, l := range plan {
		res, err := Install(l, false)
		if err != nil {
			t.Fatal(err)
		}
		want := Made
		if i == 0 {
			want = LeftAlone
		}
		if res.Outcome != want {
			t.Fatalf("%s: outcome %v, want %v (%s)", l.Path, res.Outcome, want, res)
		}
	}
	if b, _ := os.ReadFile(postfix); string(b) != "#!/bin/sh\necho another MTA\n" {
		t.Fatalf("the other MTA's sendmail was changed: %q", b)
	}
	res, _ := Install(plan[0], false)
	if !strings.Contains(res.String(), postfix+": left alone, it is a file that is not a Go program") {
		t.Errorf("the report does not name the file: %s", res)
	}

	// Again: every link of ours is there already.
	for _, l := range plan[1:] {
		if res, err := Install(l, false); err != nil || res.Outcome != Already {
			t.Fatalf("%s: %v %s", l.Path, err, res)
		}
	}

	// Forced: the old file is kept beside the link.
	res, err := Install(plan[0], true)
	if err != nil || res.Outcome != Saved {
		t.Fatalf("forced: %v %s", err, res)
	}
	if got, _ := os.Readlink(postfix); got != plan[0].Target {
		t.Fatalf("%s -> %q", postfix, got)
	}
	if b, _ := os.ReadFile(postfix + SavedSuffix); string(b) != "#!/bin/sh\necho another MTA\n" {
		t.Fatalf("the old file was not kept: %q", b)
	}
	// A second forced install over a saved file has nothing to save: the
	// path is ours now.
	if res, err := Install(plan[0], true); err != nil || res.Outcome != Already {
		t.Fatalf("forced again: %v %s", err, res)
	}
}

func TestInstallReplacesAnOlderGqmailLink(t *testing.T) {
	old, bin := bindir(t), bindir(t)
	l := Plan(bin, "/var/qmail", t.TempDir())[2]
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(old, "mailq"), l.Path); err != nil {
		t.Fatal(err)
	}
	if res, err := Install(l, false); err != nil || res.Outcome != Made {
		t.Fatalf("%v %s", err, res)
	}
	if got, _ := os.Readlink(l.Path); got != l.Target {
		t.Fatalf("-> %q", got)
	}
}

func TestInstallRefusesWhatIsNotOurs(t *testing.T) {
	stage := t.TempDir()
	dangling := filepath.Join(stage, "usr/bin/mailq")
	if err := os.MkdirAll(filepath.Dir(dangling), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/mailq", dangling); err != nil {
		t.Fatal(err)
	}
	res, err := Install(Link{dangling, filepath.Join(bindir(t), "mailq")}, false)
	if err != nil || res.Outcome != LeftAlone || !strings.Contains(res.Found, "dangling symbolic link to /nonexistent/mailq") {
		t.Fatalf("a dangling link: %v %s", err, res)
	}
	// A plan pointing at something that is not gqmail's changes nothing.
	_, err = Install(Link{filepath.Join(stage, "usr/sbin/sendmail"), "/bin/sh"}, true)
	if err == nil || !strings.Contains(err.Error(), "not a gqmail command") {
		t.Fatalf("a foreign target: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(stage, "usr/sbin/sendmail")); err == nil {
		t.Fatal("a link to a foreign target was made")
	}
}

// As root, nothing another user could change is linked into or linked
// to: a staging tree with a user's symbolic link in it, a directory of
// commands the user owns, a world-writable directory.
func TestInstallAsRootRefusesWhatOthersControl(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: the checks are for root (run as root, as CI does)")
	}
	const someone = 4321
	bin := bindir(t)

	stage := t.TempDir()
	userDir := filepath.Join(stage, "user")
	os.Mkdir(userDir, 0o755)
	os.Chown(userDir, someone, someone)
	escaped := t.TempDir()
	if err := os.Symlink(escaped, filepath.Join(userDir, "usr")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(userDir, "usr"), someone, someone)
	_, err := Install(Link{filepath.Join(userDir, "usr/sbin/sendmail"), filepath.Join(bin, "sendmail")}, true)
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 4321") {
		t.Fatalf("a user's staging directory: %v", err)
	}
	if got := names(t, escaped); len(got) != 0 {
		t.Fatalf("root wrote through the user's link: %v", got)
	}

	userBin := t.TempDir()
	os.Chown(userBin, someone, someone)
	_, err = Install(Link{filepath.Join(stage, "usr/sbin/sendmail"), filepath.Join(userBin, "sendmail")}, false)
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 4321") {
		t.Fatalf("a user's directory of commands: %v", err)
	}

	open := t.TempDir()
	os.Chmod(open, 0o777)
	_, err = Install(Link{filepath.Join(open, "sendmail"), filepath.Join(bin, "sendmail")}, false)
	if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("a world-writable directory: %v", err)
	}
	// /tmp itself is open to all, but sticky: a directory to be made
	// there could be made first by someone else.
	_, err = Install(Link{filepath.Join(os.TempDir(), "gqmail-links-never-made", "sendmail"), filepath.Join(bin, "sendmail")}, false)
	if err == nil || !strings.Contains(err.Error(), "where others may make it first") {
		t.Fatalf("a new directory in /tmp: %v", err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
