package localdeliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/aliases"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
)

// aliasTable writes an aliases table of src and opens it.
func aliasTable(t *testing.T, src string) *aliases.Table {
	t.Helper()
	p, err := aliases.ParseFile(strings.NewReader(src), "aliases", aliases.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "aliases.db")
	if err := aliases.WriteTable(path, p); err != nil {
		t.Fatal(err)
	}
	tab := aliases.OpenTable(path)
	t.Cleanup(func() { tab.Close() })
	return tab
}

// Users first, then a specific ~alias file, then the aliases table, then
// ~alias/.qmail-default: where fastforward behind .qmail-default sits.
func TestAliasesComeAfterUsersAndSpecificAliasFiles(t *testing.T) {
	h := recipientHelper(t, map[string]string{
		"alias/.qmail-postmaster":    "&joe\n",
		"alias/.qmail-owner-default": "&joe\n",
		"alias/.qmail-default":       "./aliasbox\n",
	})
	h.Resolver.Aliases = aliasTable(t, "joe: someone@else.example\npostmaster: nobody\nstaff: joe, ann\nowner-x: joe\nowner-staff: joe\n")
	cases := []struct {
		rcpt, source, lines, owner string
	}{
		{"joe@example.org", "passwd", "", ""},
		{"postmaster@example.org", "alias", "", ""},
		{"owner-x@example.org", "alias", "", ""}, // .qmail-owner-default comes first
		{"staff@example.org", "aliases", "&joe@example.org\n&ann@example.org\n", "owner-staff@example.org"},
		{"STAFF@Example.ORG", "aliases", "&joe@Example.ORG\n&ann@Example.ORG\n", "owner-staff@Example.ORG"},
		{"nobody@example.org", "alias", "", ""},
	}
	for _, c := range cases {
		id, err := h.Resolver.Resolve(c.rcpt)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.rcpt, err)
			continue
		}
		if id.Source != c.source || string(id.Lines) != c.lines || id.Owner != c.owner {
			t.Errorf("Resolve(%q): source %s lines %q owner %q; want %s %q %q", c.rcpt, id.Source, id.Lines, id.Owner, c.source, c.lines, c.owner)
		}
		info, err := h.checkRecipient(c.rcpt)
		if err != nil || !info.Exists {
			t.Errorf("checkRecipient(%q) = %+v, %v; want it to exist", c.rcpt, info, err)
		}
	}
}

// Without ~alias/.qmail-default, an address exists at RCPT exactly when
// the aliases table has it.
func TestCheckRecipientAcceptsWhatTheAliasesTableHas(t *testing.T) {
	h := recipientHelper(t, nil)
	h.Resolver.Aliases = aliasTable(t, "staff: joe\nlist@example.org: joe\n")
	for rcpt, want := range map[string]bool{
		"staff@example.org":   true,
		"staff@other.example": true,
		"list@example.org":    true,
		"list@other.example":  false,
		"nosuch@example.org":  false,
	} {
		info, err := h.checkRecipient(rcpt)
		if err != nil || info.Exists != want || (want && info.Account != "alias") {
			t.Errorf("checkRecipient(%q) = %+v, %v; want exists %v as alias", rcpt, info, err, want)
		}
	}
}

// An alias job crosses the wire with its lines and owner, and the child
// runs the lines in place of a .qmail file, with the owner as sender.
func TestAliasJobRunsItsLinesAsTheAccount(t *testing.T) {
	home := t.TempDir()
	j := &job{
		Identity: Identity{Local: "list", Domain: "example.org", Lines: []byte("&joe@example.org\n./archive\n"), Owner: "owner-list@example.org"},
		Sender:   "s@example.org", DefaultDelivery: "./Maildir/", Message: []byte("Subject: x\n\nbody\n"),
	}
	j.User, j.Home, j.Dash, j.Ext = "alias", home, "-", "list"
	got, err := decodeJob(encodeJob(j))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Lines) != string(j.Lines) || got.Owner != j.Owner || got.Sender != "owner-list@example.org" {
		t.Fatalf("decoded lines %q owner %q sender %q", got.Lines, got.Owner, got.Sender)
	}
	plain := *j
	plain.Lines, plain.Owner = nil, ""
	if got, err := decodeJob(encodeJob(&plain)); err != nil || got.Lines != nil || got.Sender != "s@example.org" {
		t.Fatalf("a job that is no alias's: %+v, %v", got, err)
	}
	// A bounce keeps its null sender.
	bounce := *j
	bounce.Sender = ""
	if got, _ := decodeJob(encodeJob(&bounce)); got.Sender != "" {
		t.Errorf("a bounce through an owned alias has sender %q", got.Sender)
	}

	c := &childDeliverer{maildir: &mailbox.Maildir{Host: "test"}, mbox: &mailbox.Mbox{}}
	resp := c.deliver(got)
	if resp.Err != nil {
		t.Fatal(resp.Err)
	}
	if len(resp.Forward) != 1 || resp.Forward[0] != "joe@example.org" || resp.NewSender != "owner-list@example.org" {
		t.Errorf("forward %v from %q", resp.Forward, resp.NewSender)
	}
	box, err := os.ReadFile(filepath.Join(home, "archive"))
	if err != nil || !strings.HasPrefix(string(box), "From owner-list@example.org ") {
		t.Errorf("archive: %q, %v", box, err)
	}
}

// A table that cannot be read defers only what would need it: an address
// with its own ~alias file is delivered as before.
func TestADamagedAliasesTableDefersOnlyItsAddresses(t *testing.T) {
	h := recipientHelper(t, map[string]string{"alias/.qmail-postmaster": "&joe\n"})
	path := filepath.Join(t.TempDir(), "aliases.db")
	if err := os.WriteFile(path, []byte("not a bbolt file"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := aliases.OpenTable(path)
	defer tab.Close()
	h.Resolver.Aliases = tab
	if id, err := h.Resolver.Resolve("postmaster@example.org"); err != nil || id.Source != "alias" {
		t.Errorf("postmaster: %+v, %v", id, err)
	}
	_, err := h.Resolver.Resolve("staff@example.org")
	if err == nil || outcome.IsPermanent(err) || !strings.Contains(outcome.Text(err), "Trouble reading users/aliases.db") {
		t.Errorf("staff: %v, want a deferral naming users/aliases.db", err)
	}
}
