package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/tablefile"
)

// The assignment table file (users/assign.db) holds the qmail-users table:
//
//	meta    "schema" → uint32 version
//	exact   lowercase(local) → entry            ("=" lines)
//	prefix  lowercase(loc) → entry              ("+" lines)
//	lines   seq(8) → entry                       (every line in file order, for export)
//
// It is never changed in place. WriteAssignTable builds a complete new file
// beside the old one, fsyncs it and renames it over the old one, as
// qmail-newu swaps users/cdb; an AssignTable notices the new file and
// reopens it. A lookup therefore sees the old table or the new one, never a
// mixture.

const assignSchemaVersion = 1

var (
	bucketExact  = []byte("exact")
	bucketPrefix = []byte("prefix")
	bucketLines  = []byte("lines")
)

// AssignEntry is one line of the table.
type AssignEntry struct {
	// Wildcard is set for a "+" line: every address that begins with Local.
	Wildcard bool
	Local    string
	User     string
	UID      int
	GID      int
	Home     string
	Dash     string
	Ext      string
}

// Assignment is the answer to a lookup: who delivers and which .qmail file
// they read (Home + "/.qmail" + Dash + Ext).
type Assignment struct {
	User string
	UID  int
	GID  int
	Home string
	Dash string
	// Ext is the entry's extension followed, for a wildcard entry, by the
	// rest of the address in its original case.
	Ext string
}

func encodeAssign(e *AssignEntry) []byte {
	var enc encoder
	enc.byte(1)
	if e.Wildcard {
		enc.byte(1)
	} else {
		enc.byte(0)
	}
	enc.string(e.Local)
	enc.string(e.User)
	enc.varint(int64(e.UID))
	enc.varint(int64(e.GID))
	enc.string(e.Home)
	enc.string(e.Dash)
	enc.string(e.Ext)
	return enc.b
}

func decodeAssign(b []byte) (*AssignEntry, error) {
	d := decoder{b: b}
	if f := d.byte(); d.err == nil && f != 1 {
		return nil, fmt.Errorf("assignment record: unknown format %d", f)
	}
	e := &AssignEntry{Wildcard: d.byte() == 1}
	e.Local = d.string()
	e.User = d.string()
	e.UID = int(d.varint())
	e.GID = int(d.varint())
	e.Home = d.string()
	e.Dash = d.string()
	e.Ext = d.string()
	if d.err != nil {
		return nil, fmt.Errorf("assignment record: %w", d.err)
	}
	return e, nil
}

// WriteAssignTable replaces the table at path with entries, atomically.
// Among entries with the same key the first one wins, as in qmail-newu.
func WriteAssignTable(path string, entries []AssignEntry) error {
	err := tablefile.Replace(path, tablefile.Options{Mode: 0o644}, func(tx *bolt.Tx) error {
		if err := tablefile.PutSchema(tx, assignSchemaVersion); err != nil {
			return err
		}
		exact, err := tx.CreateBucket(bucketExact)
		if err != nil {
			return err
		}
		prefix, err := tx.CreateBucket(bucketPrefix)
		if err != nil {
			return err
		}
		lines, err := tx.CreateBucket(bucketLines)
		if err != nil {
			return err
		}
		for i := range entries {
			e := &entries[i]
			v := encodeAssign(e)
			if err := lines.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), v); err != nil {
				return err
			}
			bucket := exact
			if e.Wildcard {
				bucket = prefix
			}
			key := []byte(address.Lower(e.Local))
			if !e.Wildcard && len(key) == 0 {
				// bbolt refuses empty keys; an exact entry for the empty
				// local part could never match anyway (qmail treats the
				// empty local part as a trash address).
				continue
			}
			if e.Wildcard {
				// The empty prefix is the catch-all; keys get a leading
				// byte so that it can be stored.
				key = append([]byte{'+'}, key...)
			}
			if bucket.Get(key) != nil {
				continue
			}
			if err := bucket.Put(key, v); err != nil {
				return err
			}
		}
		return nil
	})
	var te *tablefile.Error
	if errors.As(err, &te) && te.Op != tablefile.OpSync {
		return fmt.Errorf("assignment table %s: %w", te.Name, te.Err)
	}
	return err
}

// syncDir is tablefile.SyncDir, kept under this name for the spool.
func syncDir(dir string) error { return tablefile.SyncDir(dir) }

// AssignTable reads the table at one path. It is safe for concurrent use.
// Every lookup checks whether the file was replaced and, if so, opens the
// new one; lookups under way finish on the old one, which is closed after
// the last of them.
type AssignTable struct {
	r *tablefile.Reader
}

// OpenAssignTable returns a table reading the file at path. The file need
// not exist yet: until it does, every lookup finds nothing.
func OpenAssignTable(path string) *AssignTable {
	return &AssignTable{r: tablefile.NewReader(path, checkAssignFile)}
}

// Path returns the table file's path.
func (t *AssignTable) Path() string { return t.r.Path() }

// Close closes the open file, if any, once lookups under way are done.
func (t *AssignTable) Close() error { return t.r.Close() }

// view runs fn on the table now at the path (false with no file there),
// its errors naming the table.
func (t *AssignTable) view(fn func(*bolt.Tx) error) (bool, error) {
	ok, err := t.r.View(fn)
	if err != nil {
		err = fmt.Errorf("assignment table: %w", err)
	}
	return ok, err
}

// checkAssignFile refuses a file that is not an assignment table of this
// schema.
func checkAssignFile(tx *bolt.Tx) error {
	return tablefile.CheckSchema(tx, "assignment", assignSchemaVersion, bucketExact, bucketPrefix, bucketLines)
}

// Lookup finds the assignment for a local part as qmail-lspawn does: the
// exact entry for the lowercased local part, else the wildcard entry with
// the longest prefix of it, else none.
func (t *AssignTable) Lookup(local string) (Assignment, bool, error) {
	var (
		a     Assignment
		found bool
	)
	_, err := t.r.View(func(tx *bolt.Tx) error {
		lower := address.Lower(local)
		if lower != "" {
			if v := tx.Bucket(bucketExact).Get([]byte(lower)); v != nil {
				e, err := decodeAssign(v)
				if err != nil {
					return err
				}
				a, found = assignment(e, ""), true
				return nil
			}
		}
		prefix := tx.Bucket(bucketPrefix)
		key := append([]byte{'+'}, lower...)
		for i := len(lower); i >= 0; i-- {
			if v := prefix.Get(key[:1+i]); v != nil {
				e, err := decodeAssign(v)
				if err != nil {
					return err
				}
				a, found = assignment(e, local[i:]), true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return Assignment{}, false, fmt.Errorf("assignment table %s: lookup %q: %w", t.Path(), local, err)
	}
	return a, found, nil
}

func assignment(e *AssignEntry, rest string) Assignment {
	return Assignment{User: e.User, UID: e.UID, GID: e.GID, Home: e.Home, Dash: e.Dash, Ext: e.Ext + rest}
}

// Entries returns every line of the table in its original order.
func (t *AssignTable) Entries() ([]AssignEntry, error) {
	var out []AssignEntry
	_, err := t.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLines).ForEach(func(_, v []byte) error {
			e, err := decodeAssign(v)
			if err != nil {
				return err
			}
			out = append(out, *e)
			return nil
		})
	})
	return out, err
}
