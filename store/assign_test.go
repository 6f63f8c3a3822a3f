package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The example from qmail-users(5).
var exampleAssign = []AssignEntry{
	{Wildcard: true, Local: "", User: "alias", UID: 7790, GID: 2108, Home: "/var/qmail/alias", Dash: "-"},
	{Wildcard: true, Local: "joe-", User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-"},
	{Local: "joe", User: "joe", UID: 507, GID: 100, Home: "/home/joe"},
}

func TestAssignLookupFollowsQmailPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assign.db")
	if err := WriteAssignTable(path, exampleAssign); err != nil {
		t.Fatal(err)
	}
	tab := OpenAssignTable(path)
	defer tab.Close()
	cases := []struct {
		local, user, dash, ext string
	}{
		{"joe", "joe", "", ""},
		{"JOE", "joe", "", ""},
		{"joe-direct", "joe", "-", "direct"},
		{"Joe-Direct", "joe", "-", "Direct"},
		{"bill", "alias", "-", "bill"},
		{"", "alias", "-", ""},
	}
	for _, c := range cases {
		a, ok, err := tab.Lookup(c.local)
		if err != nil || !ok {
			t.Fatalf("Lookup(%q) = %v, %v", c.local, ok, err)
		}
		if a.User != c.user || a.Dash != c.dash || a.Ext != c.ext {
			t.Errorf("Lookup(%q) = %+v; want user %s dash %q ext %q", c.local, a, c.user, c.dash, c.ext)
		}
	}
}

func TestAssignFirstDuplicateWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assign.db")
	err := WriteAssignTable(path, []AssignEntry{
		{Local: "joe", User: "first", UID: 1, GID: 1, Home: "/a"},
		{Local: "JOE", User: "second", UID: 2, GID: 2, Home: "/b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tab := OpenAssignTable(path)
	defer tab.Close()
	a, _, _ := tab.Lookup("joe")
	if a.User != "first" {
		t.Fatalf("duplicate key: got %s, want the first line", a.User)
	}
	all, _ := tab.Entries()
	if len(all) != 2 || all[1].User != "second" {
		t.Fatalf("Entries lost a line: %+v", all)
	}
}

func TestMissingAssignTableHasNoEntries(t *testing.T) {
	tab := OpenAssignTable(filepath.Join(t.TempDir(), "none.db"))
	if _, ok, err := tab.Lookup("joe"); ok || err != nil {
		t.Fatalf("Lookup in missing table = %v, %v", ok, err)
	}
}

func TestAssignTableSeesReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assign.db")
	WriteAssignTable(path, []AssignEntry{{Local: "joe", User: "old", UID: 1, GID: 1, Home: "/a"}})
	tab := OpenAssignTable(path)
	defer tab.Close()
	if a, _, _ := tab.Lookup("joe"); a.User != "old" {
		t.Fatalf("before: %+v", a)
	}
	WriteAssignTable(path, []AssignEntry{{Local: "joe", User: "new", UID: 1, GID: 1, Home: "/a"}})
	if a, _, _ := tab.Lookup("joe"); a.User != "new" {
		t.Fatalf("after replacement: %+v", a)
	}
	os.Remove(path)
	if _, ok, _ := tab.Lookup("joe"); ok {
		t.Fatal("removed table still answers")
	}
}

// A lookup running while the table is replaced sees one whole table: every
// table written here maps all its names to the same generation.
func TestLookupDuringReplacementNeverSeesHalfATable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assign.db")
	gen := func(g int) []AssignEntry {
		var es []AssignEntry
		for i := range 2000 {
			es = append(es, AssignEntry{Local: fmt.Sprintf("u%d", i), User: fmt.Sprintf("gen%d", g), UID: 1000 + i, GID: 100, Home: "/h"})
		}
		return es
	}
	if err := WriteAssignTable(path, gen(0)); err != nil {
		t.Fatal(err)
	}
	tab := OpenAssignTable(path)
	defer tab.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var lookups int
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				lookups = i
				return
			default:
			}
			first, ok1, err1 := tab.Lookup("u0")
			last, ok2, err2 := tab.Lookup("u1999")
			if err1 != nil || err2 != nil || !ok1 || !ok2 {
				t.Errorf("lookup during import: %v %v %v %v", ok1, err1, ok2, err2)
				return
			}
			// Generations only grow, so the second lookup never sees an
			// older one than the first.
			if last.User < first.User {
				t.Errorf("saw %s then %s", first.User, last.User)
				return
			}
		}
	})
	for g := 1; g <= 9; g++ {
		if err := WriteAssignTable(path, gen(g)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if a, _, _ := tab.Lookup("u5"); a.User != "gen9" {
		t.Fatalf("after the last import: %+v", a)
	}
	t.Logf("%d lookup pairs during 9 imports", lookups)
}
