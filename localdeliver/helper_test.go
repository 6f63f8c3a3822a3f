package localdeliver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/frame"
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

// A child that does not speak this helper's job frame says which one it
// speaks, and the delivery is a deferral that names both versions.
func TestChildOfAnotherVersionIsADeferralNamingBoth(t *testing.T) {
	mine, theirs, err := frame.Pair()
	if err != nil {
		t.Fatal(err)
	}
	fake, err := frame.FileConn(theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	go func() {
		fake.Read()
		fake.Write(nil, []byte(tagVersion), []byte("job/9"))
	}()
	c := &child{conn: mine, key: [2]int{4242, 4242}}
	defer mine.Close()
	_, err = c.run(&job{Message: []byte("x\n")})
	if !errors.Is(err, errVersion) || !strings.Contains(err.Error(), `"job/9"`) || !strings.Contains(err.Error(), `"job/1"`) {
		t.Fatalf("run = %v; want a version mismatch naming job/9 and job/1", err)
	}
}
