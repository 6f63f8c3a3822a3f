package localdeliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// Not running as root, the helper delivers only as its own uid: an
// address that belongs to another uid is deferred before any child
// starts, and the trash address (empty local part) is done at once.
func TestHelperWithoutRootDeliversOnlyAsItself(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assign.db")
	other := os.Getuid() + 4242
	if err := store.WriteAssignTable(path, []store.AssignEntry{
		{Local: "someone", User: "someone", UID: other, GID: 100, Home: "/nonexistent"},
	}); err != nil {
		t.Fatal(err)
	}
	tab := store.OpenAssignTable(path)
	defer tab.Close()
	h := &Helper{
		Resolver:     &Resolver{Assign: tab, LookupUser: passwd{}.lookup},
		ChildCommand: []string{"/bin/false"}, // never started
	}
	h.pool.init(h)
	resp := h.deliver(&Request{Recipient: "someone@example.org", Message: []byte("x\n")})
	if outcome.Of(resp.Err) != outcome.Deferred || !strings.Contains(outcome.Text(resp.Err), "Not running as root, so I deliver only as uid") {
		t.Fatalf("another uid's address: %+v", resp)
	}
	if resp := h.deliver(&Request{Recipient: "@example.org"}); resp.Err != nil {
		t.Fatalf("trash address: %+v", resp)
	}
}
