package localdeliver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
	"github.com/gqmail/gqmail/store"
)

// deliverTo runs the child's delivery of a small message to the user
// whose home is home.
func deliverTo(t *testing.T, home string) *Response {
	t.Helper()
	c := &childDeliverer{maildir: &mailbox.Maildir{Host: "test"}, mbox: &mailbox.Mbox{}}
	j := &job{
		Identity:        Identity{Assignment: store.Assignment{User: "joe", Home: home}, Local: "joe", Domain: "example.org"},
		Sender:          "s@example.org",
		DefaultDelivery: "./Maildir/",
		Message:         []byte("Subject: x\n\nbody\n"),
	}
	return c.deliver(j)
}

// As qmail-local: a home anyone may write to, or with the sticky bit set
// (the user is editing .qmail), defers the delivery and writes nothing.
func TestHomeChecksDefer(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		want string
	}{
		{"writable by others", 0o757, "Uh-oh: home directory is writable. (#4.7.0)"},
		{"sticky", 0o755 | os.ModeSticky, "Home directory is sticky: user is editing his .qmail file. (#4.2.1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			for _, d := range []string{"tmp", "new", "cur"} {
				os.MkdirAll(filepath.Join(home, "Maildir", d), 0o700)
			}
			if err := os.Chmod(home, tc.mode); err != nil {
				t.Fatal(err)
			}
			resp := deliverTo(t, home)
			if resp.Err == nil {
				t.Fatalf("delivered (%s), want a deferral %q", resp.Report, tc.want)
			}
			if outcome.Of(resp.Err) != outcome.Deferred || outcome.Text(resp.Err) != tc.want {
				t.Fatalf("delivery: %v %q, want a deferral %q", outcome.Of(resp.Err), outcome.Text(resp.Err), tc.want)
			}
			if files, _ := os.ReadDir(filepath.Join(home, "Maildir", "new")); len(files) != 0 {
				t.Fatal("the message was written anyway")
			}
			os.Chmod(home, 0o755)
			if resp := deliverTo(t, home); resp.Err != nil {
				t.Fatalf("the same home, fixed: %v", resp.Err)
			}
		})
	}
}
