package layout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureMakesAFreshRoot(t *testing.T) {
	p := For(filepath.Join(t.TempDir(), "root"))
	me := &Owner{User: "me", UID: os.Getuid(), GID: os.Getgid()}
	if err := Ensure(p, Options{Hostname: "mail.example.org", ConfigText: "# settings\n", Playground: me}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		p.Config:                              "# settings\n",
		filepath.Join(p.Control, "me"):        "mail.example.org\n",
		filepath.Join(p.Control, "locals"):    "localhost\nmail.example.org\n",
		filepath.Join(p.Control, "rcpthosts"): "localhost\nmail.example.org\n",
	} {
		if b, err := os.ReadFile(name); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	for _, d := range []string{p.Queue, p.Submit, p.Users, filepath.Join(p.Home, "Maildir", "new")} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a directory: %v", d, err)
		}
	}
	// The assignment table is the daemon's to write (layout imports no
	// package outside internal/).
	if _, err := os.Stat(p.Assign); err == nil {
		t.Fatal("layout wrote the assignment table")
	}
}

func TestEnsureNeverOverwrites(t *testing.T) {
	p := For(filepath.Join(t.TempDir(), "root"))
	os.MkdirAll(p.Control, 0o755)
	os.WriteFile(p.Config, []byte("[smtp]\nlisten = [\"127.0.0.1:2600\"]\n"), 0o644)
	os.WriteFile(filepath.Join(p.Control, "me"), []byte("seeded.example\n"), 0o644)
	if err := Ensure(p, Options{Hostname: "other", ConfigText: "# new\n"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p.Config); string(b) != "[smtp]\nlisten = [\"127.0.0.1:2600\"]\n" {
		t.Errorf("qmail.toml was rewritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Control, "me")); string(b) != "seeded.example\n" {
		t.Errorf("control/me was rewritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(p.Control, "rcpthosts")); err == nil {
		t.Error("a pre-seeded control directory got a rcpthosts it did not have")
	}
}

func TestEnsureNamesWhatItCannotMake(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	err := Ensure(For(filepath.Join(file, "root")), Options{})
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Ensure under a file: %v", err)
	}
}

// A qmail installation is never taken over: qmaild's default root is
// /var/qmail, where qmail lives.
func TestEnsureRefusesAQmailInstallation(t *testing.T) {
	for _, mark := range []string{"queue/mess", "queue/todo", "bin/qmail-send"} {
		t.Run(mark, func(t *testing.T) {
			p := For(filepath.Join(t.TempDir(), "qmail"))
			os.MkdirAll(filepath.Join(p.Root, mark), 0o755)
			os.MkdirAll(p.Control, 0o755)
			os.WriteFile(filepath.Join(p.Control, "me"), []byte("mx.example.org\n"), 0o644)
			err := Ensure(p, Options{Hostname: "h", ConfigText: "\n"})
			if err == nil || !strings.Contains(err.Error(), "holds a qmail installation") {
				t.Fatalf("Ensure = %v, want a refusal naming the qmail installation", err)
			}
			if _, err := os.Stat(p.Config); err == nil {
				t.Fatal("Ensure wrote qmail.toml into the qmail installation")
			}
			if _, err := os.Stat(p.Queue + "/bodies"); err == nil {
				t.Fatal("Ensure made a body directory in qmail's queue")
			}
		})
	}
	// A gqmail root that was a qmail one (qmail.toml written by the
	// administrator on purpose) is taken.
	p := For(filepath.Join(t.TempDir(), "migrated"))
	os.MkdirAll(filepath.Join(p.Root, "queue/mess"), 0o755)
	os.MkdirAll(p.Root, 0o755)
	os.WriteFile(p.Config, []byte("\n"), 0o644)
	if err := Ensure(p, Options{Hostname: "h", ConfigText: "\n"}); err != nil {
		t.Fatalf("a root with qmail.toml: %v", err)
	}
}
