package dotqmail

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
)

func TestNewSender(t *testing.T) {
	owner := map[string]fakeFile{".qmail-list-owner": file("")}
	verp := map[string]fakeFile{".qmail-list-owner": file(""), ".qmail-list-owner-default": file("")}
	tests := []struct {
		name        string
		files       map[string]fakeFile
		sender      string
		dash, ext   string
		want        string
		wantStatted []string
	}{
		{"without an owner file the sender is kept", nil, "a@b", "-", "list", "a@b",
			[]string{".qmail-list-owner"}},
		{"an owner file makes local-owner the sender", owner, "a@b", "-", "list", "me-list-owner@example.org",
			[]string{".qmail-list-owner", ".qmail-list-owner-default"}},
		{"an owner-default file too gives the VERP form", verp, "a@b", "-", "list", "me-list-owner-@example.org-@[]",
			[]string{".qmail-list-owner", ".qmail-list-owner-default"}},
		{"an owner-default file alone does nothing", map[string]fakeFile{".qmail-list-owner-default": file("")},
			"a@b", "-", "list", "a@b", []string{".qmail-list-owner"}},
		{"the null sender is kept without looking", verp, "", "-", "list", "", nil},
		{"the double-bounce sender is kept without looking", verp, "#@[]", "-", "list", "#@[]", nil},
		{"the names come from the safe extension", map[string]fakeFile{".qmail-my:list-owner": file("")},
			"a@b", "-", "My.List", "me-list-owner@example.org", []string{".qmail-my:list-owner", ".qmail-my:list-owner-default"}},
		{"the user's own address looks at .qmail-owner", map[string]fakeFile{".qmail-owner": file("")},
			"a@b", "", "", "me-list-owner@example.org", []string{".qmail-owner", ".qmail-owner-default"}},
		{"a name with a slash is never looked at", owner, "a@b", "-", "x/y", "a@b", nil},
		{"EACCES on stat means absent, as in qmail", map[string]fakeFile{".qmail-list-owner": {err: syscall.EACCES}},
			"a@b", "-", "list", "a@b", []string{".qmail-list-owner"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := newFakeFS(tt.files)
			got, err := NewSender(fsys, tt.sender, "me-list", "example.org", tt.dash, tt.ext)
			if err != nil {
				t.Fatalf("NewSender: %v", err)
			}
			if got != tt.want {
				t.Errorf("NewSender(%q, ext %q) = %q, want %q", tt.sender, tt.ext, got, tt.want)
			}
			if !slices.Equal(fsys.statted, tt.wantStatted) {
				t.Errorf("NewSender stat'ed %q, want %q", fsys.statted, tt.wantStatted)
			}
			if len(fsys.opened) != 0 {
				t.Errorf("NewSender opened %q", fsys.opened)
			}
		})
	}
}

func TestNewSenderFailsOnATemporaryStatError(t *testing.T) {
	for _, files := range []map[string]fakeFile{
		{".qmail-list-owner": {err: syscall.EIO}},
		{".qmail-list-owner": file(""), ".qmail-list-owner-default": {err: syscall.EIO}},
	} {
		got, err := NewSender(newFakeFS(files), "a@b", "me", "example.org", "-", "list")
		var oe *outcome.Error
		if !errors.As(err, &oe) || oe.Permanent || got != "" {
			t.Fatalf("NewSender = %q, %v; want a temporary failure", got, err)
		}
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("NewSender error %v does not wrap EIO", err)
		}
	}
}
