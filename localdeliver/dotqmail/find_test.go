package dotqmail

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
)

func TestFindTriesNamesInOrder(t *testing.T) {
	tests := []struct {
		name      string
		dash, ext string
		want      []string
	}{
		{"the user's own address tries .qmail then the .qmaildefault quirk", "", "", []string{".qmail", ".qmaildefault"}},
		{"an empty extension tries .qmail- then .qmail-default", "-", "", []string{".qmail-", ".qmail-default"}},
		{"an extension without dashes falls back to .qmail-default", "-", "a", []string{".qmail-a", ".qmail-default"}},
		{"a trailing dash gives its own default", "-", "a-", []string{".qmail-a-", ".qmail-a-default", ".qmail-default"}},
		{"one dash gives one default before .qmail-default", "-", "a-b", []string{".qmail-a-b", ".qmail-a-default", ".qmail-default"}},
		{"two dashes give defaults from most to least specific", "-", "a-b-c",
			[]string{".qmail-a-b-c", ".qmail-a-b-default", ".qmail-a-default", ".qmail-default"}},
		{"uppercase is lowered and dots become colons", "-", "P.D.Q.Bach", []string{".qmail-p:d:q:bach", ".qmail-default"}},
		{"defaults are cut from the safe extension", "-", "Foo.X-Bar", []string{".qmail-foo:x-bar", ".qmail-foo:x-default", ".qmail-default"}},
		{"a dash of the assign file other than - is used as is", "-list-", "x", []string{".qmail-list-x", ".qmail-list-default"}},
		{"a slash in the extension skips every name holding it", "-", "a/b-c", []string{".qmail-default"}},
		{"a path climbing out of the home is never opened", "-", "../../etc/passwd", []string{".qmail-default"}},
		{"a slash in a cut-off part still allows the shorter defaults", "-", "a-b/c", []string{".qmail-a-default", ".qmail-default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := allNames()
			got, err := Find(fsys, tt.dash, tt.ext)
			if err != nil {
				t.Fatalf("Find(%q, %q): %v", tt.dash, tt.ext, err)
			}
			if got.Name != "" || got.Contents != nil {
				t.Errorf("Find(%q, %q) found %+v in an empty home", tt.dash, tt.ext, got)
			}
			if !slices.Equal(fsys.opened, tt.want) {
				t.Errorf("Find(%q, %q) opened %q, want %q", tt.dash, tt.ext, fsys.opened, tt.want)
			}
		})
	}
}

func TestFindChoosesTheFirstFileThatExists(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]fakeFile
		dash, ext string
		want      Target
	}{
		{"an exact match sets no DEFAULT",
			map[string]fakeFile{".qmail-foo-bar": file("&x\n"), ".qmail-default": file("&y\n")},
			"-", "Foo-Bar", Target{Name: ".qmail-foo-bar", Contents: []byte("&x\n")}},
		{"a default file gives the original-case rest of the extension",
			map[string]fakeFile{".qmail-foo-default": file("&x\n")},
			"-", "foo-Bar", Target{Name: ".qmail-foo-default", HasDefault: true, Default: "Bar", Contents: []byte("&x\n")}},
		{".qmail-default gives the whole extension",
			map[string]fakeFile{".qmail-default": file("&x\n")},
			"-", "foo-Bar", Target{Name: ".qmail-default", HasDefault: true, Default: "foo-Bar", Contents: []byte("&x\n")}},
		{"the most specific default wins",
			map[string]fakeFile{".qmail-a-b-default": file("1"), ".qmail-a-default": file("2"), ".qmail-default": file("3")},
			"-", "A-B-C.d", Target{Name: ".qmail-a-b-default", HasDefault: true, Default: "C.d", Contents: []byte("1")}},
		{"a trailing dash gives an empty DEFAULT",
			map[string]fakeFile{".qmail-a-default": file("1")},
			"-", "a-", Target{Name: ".qmail-a-default", HasDefault: true, Default: "", Contents: []byte("1")}},
		{"an exact match ending in default sets DEFAULT as qmail does",
			map[string]fakeFile{".qmail-list-default": file("1")},
			"-", "list-DEFAULT", Target{Name: ".qmail-list-default", HasDefault: true, Default: "DEFAULT", Contents: []byte("1")}},
		{"the user's own .qmail is found",
			map[string]fakeFile{".qmail": file("./Mailbox\n")},
			"", "", Target{Name: ".qmail", Contents: []byte("./Mailbox\n")}},
		{"the .qmaildefault quirk is honoured",
			map[string]fakeFile{".qmaildefault": file("./Mailbox\n")},
			"", "", Target{Name: ".qmaildefault", HasDefault: true, Contents: []byte("./Mailbox\n")}},
		{"an empty file is found with empty contents",
			map[string]fakeFile{".qmail-foo": file("")},
			"-", "foo", Target{Name: ".qmail-foo", Contents: []byte{}}},
		{"the owner-execute bit makes the file forward-only",
			map[string]fakeFile{".qmail-foo": {data: "&x\n", mode: 0o744}},
			"-", "foo", Target{Name: ".qmail-foo", ForwardOnly: true, Contents: []byte("&x\n")}},
		{"a directory is treated as absent",
			map[string]fakeFile{".qmail-foo": {mode: os.ModeDir | 0o755}, ".qmail-default": file("d")},
			"-", "foo", Target{Name: ".qmail-default", HasDefault: true, Default: "foo", Contents: []byte("d")}},
		{"a FIFO is treated as absent",
			map[string]fakeFile{".qmail-foo": {mode: os.ModeNamedPipe | 0o600}, ".qmail-default": file("d")},
			"-", "foo", Target{Name: ".qmail-default", HasDefault: true, Default: "foo", Contents: []byte("d")}},
		{"EISDIR, ENOTDIR and ELOOP are treated as absent",
			map[string]fakeFile{".qmail-a-b-c": {err: syscall.EISDIR}, ".qmail-a-b-default": {err: syscall.ENOTDIR},
				".qmail-a-default": {err: syscall.ELOOP}, ".qmail-default": file("d")},
			"-", "a-b-c", Target{Name: ".qmail-default", HasDefault: true, Default: "a-b-c", Contents: []byte("d")}},
		{"nothing found gives an empty target",
			map[string]fakeFile{".qmail": file("x")},
			"-", "foo", Target{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(newFakeFS(tt.files), tt.dash, tt.ext)
			if err != nil {
				t.Fatalf("Find(%q, %q): %v", tt.dash, tt.ext, err)
			}
			if got.Name != tt.want.Name || got.Default != tt.want.Default || got.HasDefault != tt.want.HasDefault ||
				got.ForwardOnly != tt.want.ForwardOnly || string(got.Contents) != string(tt.want.Contents) ||
				(got.Contents == nil) != (tt.want.Contents == nil) {
				t.Errorf("Find(%q, %q) = %+v, want %+v", tt.dash, tt.ext, got, tt.want)
			}
		})
	}
}

func TestFindFailsTemporarily(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]fakeFile
		wantText string
	}{
		{"EACCES on open stops the lookup",
			map[string]fakeFile{".qmail-foo": {err: syscall.EACCES}, ".qmail-default": file("d")},
			"Unable to open .qmail-foo: permission denied. (#4.3.0)"},
		{"EPERM on open stops the lookup",
			map[string]fakeFile{".qmail-foo": {err: syscall.EPERM}, ".qmail-default": file("d")},
			"Unable to open .qmail-foo: operation not permitted. (#4.3.0)"},
		{"EIO on open stops the lookup",
			map[string]fakeFile{".qmail-foo": {err: syscall.EIO}},
			"Unable to open .qmail-foo: input/output error. (#4.3.0)"},
		{"EMFILE on a default name stops the lookup",
			map[string]fakeFile{".qmail-default": {err: syscall.EMFILE}},
			"Unable to open .qmail-default: too many open files. (#4.3.0)"},
		{"a world-writable file is refused",
			map[string]fakeFile{".qmail-foo": {data: "x", mode: 0o646}},
			"Uh-oh: .qmail file is writable. (#4.7.0)"},
		{"a group-writable file is refused too",
			map[string]fakeFile{".qmail-default": {data: "x", mode: 0o664}},
			"Uh-oh: .qmail file is writable. (#4.7.0)"},
		{"a read failure is reported with the name",
			map[string]fakeFile{".qmail-foo": {mode: 0o600, readErr: syscall.EIO}},
			"Unable to read .qmail-foo: input/output error. (#4.3.0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(newFakeFS(tt.files), "-", "foo")
			var oe *outcome.Error
			if !errors.As(err, &oe) {
				t.Fatalf("Find = %+v, %v; want *outcome.Error %q", got, err, tt.wantText)
			}
			if oe.Permanent || oe.Text != tt.wantText {
				t.Errorf("Find error = %+v, want temporary %q", oe, tt.wantText)
			}
			if got.Name != "" || got.Contents != nil {
				t.Errorf("Find returned %+v with its error", got)
			}
		})
	}
}

func TestNoMailboxIsPermanent(t *testing.T) {
	e := NoMailbox()
	if !e.Permanent || e.Text != "Sorry, no mailbox here by that name. (#5.1.1)" {
		t.Errorf("NoMailbox() = %+v", e)
	}
}

// TestOSFindsRealFiles runs Find against a real home: symbolic link loops,
// directories and FIFOs are absent, and opening a FIFO does not hang.
func TestOSFindsRealFiles(t *testing.T) {
	home, err := os.MkdirTemp("", "dotqmail-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scratch home kept at %s", home)
			return
		}
		os.RemoveAll(home)
	})
	mustWrite := func(name, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(home, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(".qmail-default", "&d\n", 0o600)
	mustWrite(".qmail-fwd", "&f\n", 0o700)
	mustWrite(".qmail-list-owner", "", 0o600)
	if err := os.Mkdir(filepath.Join(home, ".qmail-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(home, ".qmail-fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".qmail-loop", filepath.Join(home, ".qmail-loop")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(home)

	for _, tt := range []struct {
		ext, wantName string
		forwardOnly   bool
	}{
		{"fwd", ".qmail-fwd", true},
		{"dir", ".qmail-default", false},
		{"fifo", ".qmail-default", false},
		{"loop", ".qmail-default", false},
	} {
		got, err := Find(OS{}, "-", tt.ext)
		if err != nil {
			t.Fatalf("Find(OS, -, %q): %v", tt.ext, err)
		}
		if got.Name != tt.wantName || got.ForwardOnly != tt.forwardOnly {
			t.Errorf("Find(OS, -, %q) = %+v, want %s (forward-only %v)", tt.ext, got, tt.wantName, tt.forwardOnly)
		}
	}
	if ns, err := NewSender(OS{}, "a@b", "me-list", "example.org", "-", "list"); err != nil || ns != "me-list-owner@example.org" {
		t.Errorf("NewSender(OS) = %q, %v", ns, err)
	}
}
