package tablefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func fillWith(value string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte(value))
	}
}

func read(t *testing.T, r *Reader) string {
	t.Helper()
	var v string
	found, err := r.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket([]byte("b")).Get([]byte("k")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return "(none)"
	}
	return v
}

func TestReplaceSwapsWholeTablesAndReadersFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	r := NewReader(path, nil)
	defer r.Close()
	if got := read(t, r); got != "(none)" {
		t.Fatalf("missing table read %q", got)
	}
	if err := Replace(path, Options{Mode: 0o600}, fillWith("one")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, r); got != "one" {
		t.Fatalf("read %q, want one", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	if err := Replace(path, Options{}, fillWith("two")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, r); got != "two" {
		t.Fatalf("read %q after the replacement, want two", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want the default 0644", fi.Mode())
	}
}

func TestAFailedFillLeavesTheOldTableAndNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	if err := Replace(path, Options{}, fillWith("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Replace(path, Options{}, func(*bolt.Tx) error { return boom })
	var te *Error
	if !errors.As(err, &te) || te.Op != OpFill || !errors.Is(err, boom) {
		t.Fatalf("error %v, want an OpFill *Error wrapping boom", err)
	}
	r := NewReader(path, nil)
	defer r.Close()
	if got := read(t, r); got != "old" {
		t.Errorf("read %q, want the old table", got)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*.new*")); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
}

func TestReplaceInAMissingDirectoryIsACreateError(t *testing.T) {
	err := Replace(filepath.Join(t.TempDir(), "no", "t.db"), Options{}, fillWith("x"))
	var te *Error
	if !errors.As(err, &te) || te.Op != OpCreate {
		t.Fatalf("error %v, want an OpCreate *Error", err)
	}
}
