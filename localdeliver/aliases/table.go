package aliases

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/tablefile"
)

// The table file (users/aliases.db) is a bbolt file:
//
//	meta      "schema" → uint32 version
//	aliases   key(name) → seq(8)           (key: lowercase; "local@" for a bare name)
//	lines     seq(8) → Alias as JSON        (file order)
//	includes  path → IncludeFile as JSON     (what each include file was at import)
//
// It is never changed in place: WriteTable writes a new file and renames
// it over the old one (internal/tablefile), and a Table reopens the file
// when it is replaced. The file is root's, mode 0644, as
// /etc/aliases.db is.
const schemaVersion = 1

var (
	bucketAliases  = []byte("aliases")
	bucketLines    = []byte("lines")
	bucketIncludes = []byte("includes")
)

// Path returns the table's path in the root p: users/aliases.db.
func Path(p layout.Paths) string {
	return filepath.Join(p.Users, "aliases.db")
}

// WriteTable replaces the table at path with p, atomically.
func WriteTable(path string, p *Parsed) error {
	err := tablefile.Replace(path, tablefile.Options{Mode: 0o644, SizeHint: sizeHint(p)}, func(tx *bolt.Tx) error {
		if err := tablefile.PutSchema(tx, schemaVersion); err != nil {
			return err
		}
		byKey, err := tx.CreateBucket(bucketAliases)
		if err != nil {
			return err
		}
		lines, err := tx.CreateBucket(bucketLines)
		if err != nil {
			return err
		}
		lines.FillPercent = 1 // keys go in in order
		incl, err := tx.CreateBucket(bucketIncludes)
		if err != nil {
			return err
		}
		// Keys go in in order: bbolt keeps a bucket's new keys in one
		// node until the commit, and a key put anywhere but at its end
		// moves the rest (100,000 aliases in random order took 12 s).
		byKey.FillPercent = 1
		records := make([]keyed, len(p.Aliases))
		for i := range p.Aliases {
			v, err := json.Marshal(&p.Aliases[i])
			if err != nil {
				return err
			}
			seq := binary.BigEndian.AppendUint64(nil, uint64(i))
			if err := lines.Put(seq, v); err != nil {
				return err
			}
			records[i] = keyed{key(p.Aliases[i].Name), seq}
		}
		slices.SortFunc(records, func(a, b keyed) int { return strings.Compare(a.k, b.k) })
		for _, r := range records {
			if err := byKey.Put([]byte(r.k), r.v); err != nil {
				return err
			}
		}
		for _, f := range p.Includes {
			v, err := json.Marshal(f)
			if err != nil {
				return err
			}
			if err := incl.Put([]byte(f.Path), v); err != nil {
				return err
			}
		}
		return nil
	})
	var te *tablefile.Error
	if errors.As(err, &te) && te.Op != tablefile.OpSync {
		return fmt.Errorf("aliases table %s: %w", te.Name, te.Err)
	}
	return err
}

// sizeHint guesses the table file's size: about 250 bytes an alias
// with its key and bbolt's overhead.
func sizeHint(p *Parsed) int {
	return 1<<20 + 250*len(p.Aliases)
}

type keyed struct {
	k string
	v []byte
}

// Table reads the table at one path. It is safe for concurrent use; every
// call sees the table file that is at the path when it starts (the old
// one or the new one, never a mixture). A missing file is an empty table.
type Table struct {
	r *tablefile.Reader
}

// OpenTable returns a Table reading path. The file need not exist.
func OpenTable(path string) *Table {
	return &Table{r: tablefile.NewReader(path, checkSchema)}
}

func checkSchema(tx *bolt.Tx) error {
	return tablefile.CheckSchema(tx, "aliases", schemaVersion, bucketAliases, bucketLines, bucketIncludes)
}

// Path returns the table file's path.
func (t *Table) Path() string { return t.r.Path() }

// Close closes the open file, once calls under way are done.
func (t *Table) Close() error { return t.r.Close() }

// Lookup finds the alias for local@domain as fastforward does:
// "local@domain", then "@domain", then "local" at every domain. Case does
// not matter. The error is trouble reading the table, and names it.
func (t *Table) Lookup(local, domain string) (*Alias, bool, error) {
	local, domain = strings.ToLower(local), strings.ToLower(domain)
	var a *Alias
	_, err := t.r.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAliases)
		for _, k := range [...]string{local + "@" + domain, "@" + domain, local + "@"} {
			if k == "@" || strings.HasPrefix(k, "@@") {
				continue
			}
			if seq := b.Get([]byte(k)); seq != nil {
				v := tx.Bucket(bucketLines).Get(seq)
				if v == nil {
					return fmt.Errorf("alias %q: no record %x", k, seq)
				}
				a = new(Alias)
				return json.Unmarshal(v, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("aliases table %s: lookup %q: %w", t.Path(), local+"@"+domain, err)
	}
	return a, a != nil, nil
}

// Parsed returns the whole table: every alias in file order and the
// include files as recorded.
func (t *Table) Parsed() (*Parsed, error) {
	p := &Parsed{}
	_, err := t.r.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketLines).ForEach(func(_, v []byte) error {
			var a Alias
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			p.Aliases = append(p.Aliases, a)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketIncludes).ForEach(func(_, v []byte) error {
			var f IncludeFile
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			p.Includes = append(p.Includes, f)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("aliases table %s: %w", t.Path(), err)
	}
	return p, nil
}

// Change is an include file that is no longer what the import read.
type Change struct {
	Path string
	// Why says what differs: "missing", "size", "modified" (mtime and
	// contents), "unsafe: " and the rule it now breaks, or the error
	// reading it.
	Why string
}

// Check compares every include file the table recorded with the file now
// at its path, read as the import reads it (ReadIncludeFile) and held to
// the same rules: one that is now unreadable or unsafe is a change.
func (t *Table) Check() ([]Change, error) {
	p, err := t.Parsed()
	if err != nil {
		return nil, err
	}
	// The includes whose recipients run something must still pass the
	// import's ownership rules.
	runs := map[string]bool{}
	for _, a := range p.Aliases {
		for _, t := range a.Targets {
			if t.Kind == Include && runsSomething(t.Targets) {
				runs[t.Value] = true
			}
		}
	}
	var out []Change
	for _, f := range p.Includes {
		data, info, err := ReadIncludeFile(f.Path)
		reason := ""
		if err == nil {
			reason = includeReadable(f.Path, info)
			if reason == "" && runs[f.Path] {
				reason = includeTrusted(f.Path, info)
			}
		}
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, Change{Path: f.Path, Why: "missing"})
		case err != nil:
			out = append(out, Change{Path: f.Path, Why: "unsafe or unreadable: " + unwrapPath(err).Error()})
		case reason != "":
			out = append(out, Change{Path: f.Path, Why: "unsafe: " + reason})
		case int64(len(data)) != f.Size:
			out = append(out, Change{Path: f.Path, Why: fmt.Sprintf("size %d, was %d", len(data), f.Size)})
		case hashOf(data) != f.SHA256:
			out = append(out, Change{Path: f.Path, Why: "contents changed"})
		case !info.ModTime.Equal(f.ModTime):
			out = append(out, Change{Path: f.Path, Why: "modified (same contents)"})
		}
	}
	return out, nil
}
