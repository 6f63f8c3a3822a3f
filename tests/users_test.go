package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func qmailctl(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin("qmailctl"), append([]string{"--root", root}, args...)...).CombinedOutput()
	return string(out), err
}

const goodAssign = `+:alias:7790:2108:/var/qmail/alias:-::
+joe-:joe:507:100:/home/joe:-::
=joe:joe:507:100:/home/joe:::
=Mixed.Case:bill:508:100:/home/bill:-:ext:
.
`

func TestUsersImportExportAndShow(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(filepath.Join(root, "users"), 0o755)
	write(t, filepath.Join(root, "qmail.toml"), "")
	write(t, filepath.Join(root, "control", "me"), "localhost\n")
	file := filepath.Join(t.TempDir(), "assign")
	write(t, file, goodAssign)

	if out, err := qmailctl(t, root, "users", "import", "--dry-run", file); err != nil || !strings.Contains(out, "4 assignments") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "users", "assign.db")); err == nil {
		t.Fatal("--dry-run wrote the table")
	}
	if out, err := qmailctl(t, root, "users", "import", file); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := qmailctl(t, root, "users", "export")
	if err != nil || out != goodAssign {
		t.Fatalf("export after import:\n%s\nwant:\n%s(%v)", out, goodAssign, err)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	write(t, bad, "=ok:u:1000:1000:/home/u:::\n=zero:root:0:0:/root:::\nnonsense\n=rel:u:1000:1000:home/u:::\n.\n")
	out, err = qmailctl(t, root, "users", "import", bad)
	if err == nil {
		t.Fatalf("a bad file was imported:\n%s", out)
	}
	for _, want := range []string{bad + " line 2: uid 0", bad + " line 3:", bad + " line 4:", "nothing changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("error output lacks %q:\n%s", want, out)
		}
	}
	if out, _ := qmailctl(t, root, "users", "export"); out != goodAssign {
		t.Fatalf("a failed import changed the table:\n%s", out)
	}

	// /home/joe does not exist here: the delivery would be deferred
	// (exit 111) after the lookup this test is about.
	out, _ = qmailctl(t, root, "users", "show", "Joe-Lists@localhost")
	for _, want := range []string{"user: joe\n", "uid: 507\n", "home: /home/joe\n", "dash: \"-\"\n", "ext: \"Lists\"\n", "from: users/assign\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("users show lacks %q:\n%s", want, out)
		}
	}
}

// A qmail-pw2u-sized table imports in one step; the time is in the log
// (bench/users-import.sh measures it; this only proves it works).
func TestUsersImportOfAHundredThousandLines(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(filepath.Join(root, "users"), 0o755)
	write(t, filepath.Join(root, "qmail.toml"), "")
	write(t, filepath.Join(root, "control", "me"), "localhost\n")
	file := filepath.Join(t.TempDir(), "assign")
	var b strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&b, "=user%d:user%d:%d:100:/home/user%d:::\n+user%d-:user%d:%d:100:/home/user%d:-::\n", i, i, 10000+i, i, i, i, 10000+i, i)
	}
	b.WriteString(".\n")
	write(t, file, b.String())
	if out, err := qmailctl(t, root, "users", "import", file); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, _ := qmailctl(t, root, "users", "show", "user49999-x@localhost")
	if !strings.Contains(out, "uid: 59999\n") || !strings.Contains(out, "ext: \"x\"\n") {
		t.Fatalf("lookup in the big table:\n%s", out)
	}
}
