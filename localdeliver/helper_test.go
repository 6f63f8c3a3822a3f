package localdeliver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// speaks, and the delivery is a deferral that names both versions; the
// helper's log names both too, for the operator who must restart qmaild.
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
	h := recipientHelper(t, nil)
	w := &warnings{}
	h.Warn = w.add
	h.pool.init(h)
	id, err := h.Resolver.Resolve("joe@example.org")
	if err != nil {
		t.Fatal(err)
	}
	// The child the pool hands out: its process is a stand-in, which the
	// helper kills once the child has answered in another version.
	proc := exec.Command("/bin/true")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	key := [2]int{id.UID, id.GID}
	h.pool.idle[key] = []*child{{cmd: proc, conn: mine, key: key}}
	resp := h.deliver(&Request{Recipient: "joe@example.org", Message: []byte("x\n")})
	if text := outcome.Text(resp.Err); outcome.Of(resp.Err) != outcome.Deferred || !strings.Contains(text, `"job/9"`) || !strings.Contains(text, strconv.Quote(tagJob)) {
		t.Fatalf("deliver = %+v; want a deferral naming job/9 and %s", resp, tagJob)
	}
	logged := w.String()
	if !strings.Contains(logged, "version mismatch") || !strings.Contains(logged, `"job/9"`) || !strings.Contains(logged, strconv.Quote(tagJob)) {
		t.Fatalf("the helper logged %q; want the version mismatch naming job/9 and %s", logged, tagJob)
	}
}
