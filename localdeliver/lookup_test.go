package localdeliver

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// passwd is a password file for tests. Homes are made under a temp dir;
// run as root they are given to the account's uid, as an ordinary user
// they stay the user's, so the "stranger" fails the ownership check.
type passwd map[string]*user.User

func (p passwd) lookup(name string) (*user.User, error) {
	if u, ok := p[name]; ok {
		return u, nil
	}
	return nil, user.UnknownUserError(name)
}

func testPasswd(t *testing.T) (passwd, int) {
	t.Helper()
	me := os.Getuid()
	if me == 0 {
		me = 4000
	}
	dir := t.TempDir()
	home := func(name string) string {
		h := filepath.Join(dir, name)
		os.Mkdir(h, 0o755)
		if os.Getuid() == 0 {
			os.Chown(h, me, 100)
		}
		return h
	}
	other := strconv.Itoa(me + 4242)
	return passwd{
		"joe":       {Username: "joe", Uid: strconv.Itoa(me), Gid: "100", HomeDir: home("joe")},
		"joe-foo":   {Username: "joe-foo", Uid: strconv.Itoa(me), Gid: "100", HomeDir: home("joe-foo")},
		"toor":      {Username: "toor", Uid: "0", Gid: "0", HomeDir: home("toor")},
		"stranger":  {Username: "stranger", Uid: other, Gid: "100", HomeDir: home("stranger")},
		"homeless":  {Username: "homeless", Uid: strconv.Itoa(me), Gid: "100", HomeDir: filepath.Join(dir, "nowhere")},
		"alias":     {Username: "alias", Uid: strconv.Itoa(me), Gid: "100", HomeDir: home("alias")},
		"uppercase": {Username: "uppercase", Uid: strconv.Itoa(me), Gid: "100", HomeDir: home("uppercase")},
	}, me
}

func TestResolveFollowsQmailGetpw(t *testing.T) {
	pw, _ := testPasswd(t)
	r := &Resolver{LookupUser: pw.lookup}
	cases := []struct {
		rcpt, user, dash, ext string
	}{
		{"joe@example.org", "joe", "", ""},
		{"Joe@example.org", "joe", "", ""},
		{"joe-bar@example.org", "joe", "-", "bar"},
		{"joe-foo@example.org", "joe-foo", "", ""},
		{"joe-foo-bar@example.org", "joe-foo", "-", "bar"},
		{"UPPERCASE-X@example.org", "uppercase", "-", "X"},
		{"toor@example.org", "alias", "-", "toor"},
		{"stranger@example.org", "alias", "-", "stranger"},
		{"homeless@example.org", "alias", "-", "homeless"},
		{"Nobody.Here@example.org", "alias", "-", "Nobody.Here"},
	}
	for _, c := range cases {
		id, err := r.Resolve(c.rcpt)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.rcpt, err)
			continue
		}
		if id.User != c.user || id.Dash != c.dash || id.Ext != c.ext {
			t.Errorf("Resolve(%q) = user %s dash %q ext %q; want %s %q %q", c.rcpt, id.User, id.Dash, id.Ext, c.user, c.dash, c.ext)
		}
	}
}

func TestResolveWithoutAliasDefers(t *testing.T) {
	r := &Resolver{LookupUser: passwd{}.lookup}
	_, err := r.Resolve("x@example.org")
	if err == nil || outcome.IsPermanent(err) || outcome.Text(err) != "Unable to find alias user! (#4.3.0)" {
		t.Fatalf("no alias user: %v", err)
	}
}

func TestAssignmentTableComesFirstAndRootIsRefused(t *testing.T) {
	pw, _ := testPasswd(t)
	path := filepath.Join(t.TempDir(), "assign.db")
	err := store.WriteAssignTable(path, []store.AssignEntry{
		{Local: "joe", User: "assigned", UID: 1234, GID: 100, Home: "/var/assigned"},
		{Wildcard: true, Local: "list-", User: "lists", UID: 1235, GID: 100, Home: "/var/lists", Dash: "-", Ext: "l-"},
		{Local: "boss", User: "root", UID: 0, GID: 0, Home: "/root"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tab := store.OpenAssignTable(path)
	defer tab.Close()
	r := &Resolver{Assign: tab, LookupUser: pw.lookup}
	if id, err := r.Resolve("joe@example.org"); err != nil || id.User != "assigned" || id.UID != 1234 || id.Home != "/var/assigned" {
		t.Fatalf("assigned joe: %+v, %v", id, err)
	}
	if id, err := r.Resolve("list-Dev@example.org"); err != nil || id.User != "lists" || id.Ext != "l-Dev" {
		t.Fatalf("wildcard: %+v, %v", id, err)
	}
	_, err = r.Resolve("boss@example.org")
	if err == nil || outcome.Text(err) != "Not allowed to perform deliveries as root. (#4.3.0)" {
		t.Fatalf("uid 0 in the table: %v", err)
	}
	if _, err := r.Resolve("no-at-sign"); !outcome.IsPermanent(err) {
		t.Fatalf("address without host: %v", err)
	}
}
