package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/fixtures"
)

// passwdRoot makes a root with an empty users/ directory.
func passwdRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(fixtures.Scratch(t), "root")
	write(t, filepath.Join(root, "qmail.toml"), "")
	write(t, filepath.Join(root, "control", "me"), "localhost\n")
	if err := os.MkdirAll(filepath.Join(root, "users"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// setPassword runs qmailctl passwd set LOGIN with the password on stdin.
func setPassword(t *testing.T, root, login, password string) {
	t.Helper()
	cmd := exec.Command(bin("qmailctl"), "--root", root, "passwd", "set", login)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qmailctl passwd set %s: %v\n%s", login, err, out)
	}
}

// checkpassword runs qmaild checkpassword with input on descriptor 3 (none
// when input is nil) and returns its exit code and output.
func checkpassword(t *testing.T, root string, input []byte, prog ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin("qmaild"), append([]string{"checkpassword", "--root", root}, prog...)...)
	if input != nil {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		// At most a few hundred bytes: the pipe holds them all.
		if _, err := w.Write(input); err != nil {
			t.Fatal(err)
		}
		w.Close()
		defer r.Close()
		cmd.ExtraFiles = []*os.File{r}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("qmaild checkpassword: %v", err)
	return -1, ""
}

func TestCheckpasswordExitCodes(t *testing.T) {
	root := passwdRoot(t)
	setPassword(t, root, "alice", "correct horse")
	setPassword(t, root, "bob@example.net", "battery staple")
	cases := []struct {
		name  string
		input []byte
		code  int
		want  string // in the output
	}{
		{"the right password", []byte("alice\x00correct horse\x001234@host\x00"), 0, ""},
		{"the right password, empty timestamp", []byte("alice\x00correct horse\x00\x00"), 0, ""},
		{"the right password, no timestamp", []byte("alice\x00correct horse\x00"), 0, ""},
		{"an address login in another case", []byte("Bob@Example.NET\x00battery staple\x00\x00"), 0, ""},
		{"a wrong password", []byte("alice\x00correct horsf\x00\x00"), 1, ""},
		{"another login's password", []byte("alice\x00battery staple\x00\x00"), 1, ""},
		{"an unknown login", []byte("carol\x00correct horse\x00\x00"), 1, ""},
		{"an empty login", []byte("\x00correct horse\x00\x00"), 1, ""},
		{"no NUL after the password", []byte("alice\x00correct horse"), 2, "does not hold login"},
		{"no NUL at all", []byte("alice"), 2, "does not hold login"},
		{"nothing", []byte{}, 2, "does not hold login"},
		{"more than 512 bytes", append([]byte("alice\x00correct horse\x00\x00"), make([]byte, 500)...), 2, "more than 512 bytes"},
		{"no descriptor 3", nil, 2, "descriptor 3 is not open"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := checkpassword(t, root, tc.input)
			if code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			for _, pw := range []string{"correct horse", "battery staple"} {
				if strings.Contains(out, pw) {
					t.Errorf("the output holds a password:\n%s", out)
				}
			}
		})
	}
}

func TestCheckpasswordTemporaryErrors(t *testing.T) {
	root := passwdRoot(t)
	setPassword(t, root, "alice", "correct horse")
	input := []byte("alice\x00correct horse\x00\x00")

	notRoot := fixtures.Scratch(t)
	if code, out := checkpassword(t, notRoot, input); code != 111 || !strings.Contains(out, "qmaild checkpassword: "+notRoot+" is not a gqmail root") {
		t.Errorf("on a directory that is no root: exit %d\n%s", code, out)
	}
	// The table is root's, mode 0600: another user cannot read it, and
	// that is trouble to report, not a wrong password.
	if os.Geteuid() == 0 {
		os.Chmod(filepath.Dir(root), 0o755)
		cmd := command(daemonAccount(t), bin("qmaild"), "checkpassword", "--root", root)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.Write(input)
		w.Close()
		cmd.ExtraFiles = []*os.File{r}
		out, err := cmd.CombinedOutput()
		r.Close()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 111 || !strings.Contains(string(out), "permission denied") {
			t.Errorf("as another user than the table's: %v\n%s", err, out)
		}
	}

	table := filepath.Join(root, "users", "passwd.db")
	if err := os.WriteFile(table, []byte("not a table"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := checkpassword(t, root, input); code != 111 || !strings.Contains(out, "qmaild checkpassword: passwd table "+table) {
		t.Errorf("with a damaged table: exit %d\n%s", code, out)
	}
}

// The root comes from GQMAIL_ROOT when --root is not given.
func TestCheckpasswordFindsItsRootInGQMAIL_ROOT(t *testing.T) {
	root := passwdRoot(t)
	setPassword(t, root, "alice", "correct horse")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("alice\x00correct horse\x00\x00"))
	w.Close()
	defer r.Close()
	cmd := exec.Command(bin("qmaild"), "checkpassword")
	cmd.Env = append(os.Environ(), "GQMAIL_ROOT="+root)
	cmd.ExtraFiles = []*os.File{r}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}

// On success the subprogram runs in checkpassword's place, with USER set
// to the login as the table holds it and no descriptor beyond 0-2; on
// failure it does not run.
func TestCheckpasswordRunsTheSubprogramAsTheLogin(t *testing.T) {
	root := passwdRoot(t)
	setPassword(t, root, "alice", "correct horse")
	report := filepath.Join(fixtures.Scratch(t), "report")
	prog := []string{"sh", "-c", `if [ -e /proc/self/fd/3 ]; then fd3=open; else fd3=closed; fi; echo "$USER $fd3 $*" > "$0"`, report, "arg1", "arg two"}

	if code, out := checkpassword(t, root, []byte("alice\x00wrong\x00\x00"), prog...); code != 1 {
		t.Fatalf("wrong password: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(report); err == nil {
		t.Fatal("the subprogram ran after a wrong password")
	}

	if code, out := checkpassword(t, root, []byte("ALICE\x00correct horse\x00\x00"), prog...); code != 0 {
		t.Fatalf("right password: exit %d\n%s", code, out)
	}
	got, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the subprogram did not run: %v", err)
	}
	if want := "alice closed arg1 arg two\n"; string(got) != want {
		t.Errorf("the subprogram reported %q, want %q", got, want)
	}

	if code, out := checkpassword(t, root, []byte("alice\x00correct horse\x00\x00"), "no-such-program-gqmail"); code != 111 || !strings.Contains(out, "cannot run no-such-program-gqmail") {
		t.Errorf("a subprogram that is not there: exit %d\n%s", code, out)
	}
}

// qmailctl passwd changes the table checkpassword reads.
func TestCheckpasswordTableByQmailctlPasswd(t *testing.T) {
	root := passwdRoot(t)
	table := filepath.Join(root, "users", "passwd.db")
	check := func(login, password string) int {
		code, _ := checkpassword(t, root, []byte(login+"\x00"+password+"\x00\x00"))
		return code
	}

	setPassword(t, root, "Alice", "correct horse")
	if fi, err := os.Stat(table); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("table after set: %v %v", fi, err)
	}
	setHash := func(login, hash string) (string, error) {
		cmd := exec.Command(bin("qmailctl"), "--root", root, "passwd", "set", "--hash", login)
		cmd.Stdin = strings.NewReader(hash + "\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := setHash("bob", "$6$gqmailsalt12345$gLVnF1tVtFr5PjiQ0w0s.EJpVFNg8QIGpHkmwWnbtAKvgClNic4vJ.kTN0pjNJQdlv1mKVU2Mk66ZWgCvNegM.")
	if err != nil || out != "passwd: set bob\n" {
		t.Fatalf("set --hash: %v\n%s", err, out)
	}
	if out, err := setHash("carol", "hunter2"); err == nil || strings.Contains(out, "hunter2") {
		t.Errorf("set --hash of a password in clear: %v\n%s", err, out)
	}
	// A password SMTP AUTH could never carry is refused.
	cmd := exec.Command(bin("qmailctl"), "--root", root, "passwd", "set", "dave")
	cmd.Stdin = strings.NewReader(strings.Repeat("p", 257) + "\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "at most 256") {
		t.Errorf("a 257-byte password: %v\n%s", err, out)
	}
	if out, err := qmailctl(t, root, "passwd", "list"); err != nil || out != "alice\nbob\n" {
		t.Errorf("list: %v\n%s", err, out)
	}
	if check("alice", "correct horse") != 0 || check("bob", "correct horse") != 0 {
		t.Error("a login set by qmailctl was refused")
	}

	if out, err := qmailctl(t, root, "passwd", "delete", "BOB"); err != nil || out != "passwd: deleted bob\n" {
		t.Errorf("delete: %v\n%s", err, out)
	}
	if check("bob", "correct horse") != 1 {
		t.Error("a deleted login was taken")
	}
	_, err = qmailctl(t, root, "passwd", "delete", "bob")
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || exit.ExitCode() != 100 {
		t.Errorf("delete of a login not there: %v, want exit 100", err)
	}

	dovecot := filepath.Join(fixtures.Scratch(t), "passwd-file")
	bad := "# from the old server\n" +
		"dave:{BLF-CRYPT}$2b$05$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a:1000:1000::/home/dave::\n" +
		"erin:{PLAIN}hunter2::::::\n" +
		"frank:{SHA256-CRYPT}$5$gqmailsalt$TstB5x2EGbHE0goMRFJxCSK5osGNxFWD1NH8ZkosuiC\n"
	write(t, dovecot, bad)
	out, err = qmailctl(t, root, "passwd", "import", dovecot)
	if err == nil || !strings.Contains(out, dovecot+" line 3: scheme {PLAIN} is not accepted") || !strings.Contains(out, "nothing changed") || strings.Contains(out, "hunter2") {
		t.Errorf("import of a file with a bad line: %v\n%s", err, out)
	}
	if out, _ := qmailctl(t, root, "passwd", "list"); out != "alice\n" {
		t.Errorf("a failed import changed the table:\n%s", out)
	}

	// No error quotes a bad line: the marker SeKr3t sits where a password
	// or hash would be (or in what the line makes the login).
	write(t, dovecot, "alice SeKr3t:x\n"+
		"bad\xffSeKr3t:{PLAIN}x\n"+
		"gina:$argon2id$v=19$m=SeKr3t,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo\n"+
		"jack:{BLF-CRYPT}$2y$SeKr3t$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a\n"+
		"kate:$6$rounds=SeKr3t$salt$key\n"+
		"sam:$SeKr3t$x\n"+
		"erin:{SeKr3t}\n")
	out, err = qmailctl(t, root, "passwd", "import", "--dry-run", dovecot)
	if err == nil || !strings.Contains(out, dovecot+" line 7: a scheme gqmail does not know") || strings.Contains(strings.ToLower(out), "sekr3t") {
		t.Errorf("import --dry-run of lines with a secret: %v\n%s", err, out)
	}
	if out, err := setHash("carol", "$argon2id$v=19$m=SeKr3t,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo"); err == nil || !strings.Contains(out, "argon2id hash: its parameters cannot be read") || strings.Contains(out, "SeKr3t") {
		t.Errorf("set --hash of a hash with a secret: %v\n%s", err, out)
	}

	write(t, dovecot, strings.Replace(bad, "erin:{PLAIN}hunter2::::::\n", "", 1))
	if out, err := qmailctl(t, root, "passwd", "import", "--dry-run", dovecot); err != nil || !strings.Contains(out, "2 logins, all good; nothing changed") {
		t.Errorf("import --dry-run: %v\n%s", err, out)
	}
	if out, _ := qmailctl(t, root, "passwd", "list"); out != "alice\n" {
		t.Errorf("--dry-run changed the table:\n%s", out)
	}
	if out, err := qmailctl(t, root, "passwd", "import", dovecot); err != nil || out != "passwd: imported 2 logins from "+dovecot+"\n" {
		t.Errorf("import: %v\n%s", err, out)
	}
	if out, _ := qmailctl(t, root, "passwd", "list"); out != "alice\ndave\nfrank\n" {
		t.Errorf("after import:\n%s", out)
	}
	if check("dave", "correct horse") != 0 || check("frank", "correct horse") != 0 || check("alice", "correct horse") != 0 {
		t.Error("an imported or kept login was refused")
	}
}
