package aliases

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTableLookupOrderAndReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aliases.db")
	tab := OpenTable(path)
	defer tab.Close()
	if _, ok, err := tab.Lookup("staff", "example.org"); ok || err != nil {
		t.Fatalf("missing table: found %v, %v", ok, err)
	}
	p, err := parse(t, "staff: joe\nstaff@Other.Example: ann\n@catch.example: bob\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(path, p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ local, domain, want string }{
		{"STAFF", "example.org", "staff"},
		{"staff", "other.example", "staff@Other.Example"},
		{"anyone", "catch.example", "@catch.example"},
		{"staff", "catch.example", "@catch.example"},
		{"nobody", "example.org", ""},
	} {
		a, ok, err := tab.Lookup(c.local, c.domain)
		if err != nil {
			t.Fatal(err)
		}
		if got := ""; ok {
			got = a.Name
			if got != c.want {
				t.Errorf("%s@%s: alias %q, want %q", c.local, c.domain, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%s@%s: none, want %q", c.local, c.domain, c.want)
		}
	}
	// A new table replaces the old one under the open Table.
	p2, _ := parse(t, "other: joe\n", nil)
	if err := WriteTable(path, p2); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tab.Lookup("staff", "example.org"); ok {
		t.Error("staff still found after the table was replaced")
	}
	if _, ok, _ := tab.Lookup("other", "example.org"); !ok {
		t.Error("other not found after the table was replaced")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("table mode %v, %v", fi.Mode(), err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*.new*")); len(names) > 0 {
		t.Errorf("temporary files left: %v", names)
	}
}

func TestCheckSaysWhichIncludeChanged(t *testing.T) {
	dir := searchableTempDir(t)
	list, same := filepath.Join(dir, "list"), filepath.Join(dir, "same")
	for _, f := range []string{list, same} {
		if err := os.WriteFile(f, []byte("joe\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gone := filepath.Join(dir, "gone")
	os.WriteFile(gone, []byte("ann\n"), 0o644)
	src := "a: :include:" + list + "\nb: :include:" + same + "\nc: :include:" + gone + "\n"
	p, err := ParseFile(strings.NewReader(src), "aliases", Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "aliases.db")
	if err := WriteTable(path, p); err != nil {
		t.Fatal(err)
	}
	tab := OpenTable(path)
	defer tab.Close()
	if ch, err := tab.Check(); err != nil || len(ch) != 0 {
		t.Fatalf("right after import: %v, %v", ch, err)
	}
	os.WriteFile(list, []byte("joe\nann\n"), 0o644)
	os.Remove(gone)
	ch, err := tab.Check()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{list: "size 8, was 4", gone: "missing"}
	if len(ch) != len(want) {
		t.Fatalf("changes %+v, want %v", ch, want)
	}
	for _, c := range ch {
		if want[c.Path] != c.Why {
			t.Errorf("%s: %q, want %q", c.Path, c.Why, want[c.Path])
		}
	}
}

func TestImportLeavesTheTableAloneOnAnyError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aliases.db")
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("a: joe\n"), 0o644)
	var out strings.Builder
	if err := Import(&out, good, path, false); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("b: joe\nb: ann\n"), 0o644)
	if err := Import(&out, bad, path, false); err == nil {
		t.Fatal("a duplicate was imported")
	}
	tab := OpenTable(path)
	defer tab.Close()
	if _, ok, _ := tab.Lookup("a", "x"); !ok {
		t.Error("the old table is gone")
	}
}
