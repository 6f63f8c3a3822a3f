// users/cdb, as qmail-newu writes it from users/assign, and as
// AssignFromCDB reads it back.
//
// # Records
//
// Each assign line is one record of a cdb file (see cdb.go), in file
// order, duplicates kept:
//
//	=local:user:uid:gid:home:dash:ext:   key "!" + lowercase(local) + NUL
//	+loc:user:uid:gid:home:dash:pre:     key "!" + lowercase(loc)
//
// The data is the six fields joined by NUL bytes, with none after the
// last: "user\0uid\0gid\0home\0dash\0ext". One more record, with the empty
// key, holds the last characters of the wildcard prefixes ("wildchars"),
// which speeds qmail-lspawn's lookup and means nothing here.
//
// The local parts come back lowercased, since that is all the file keeps;
// lookups lowercase them anyway. Every entry is checked as ParseAssign
// checks a line of users/assign, and every bad record is reported.

package migrate

import (
	"bytes"
	"fmt"

	"github.com/gqmail/gqmail/internal/lineerr"
	"github.com/gqmail/gqmail/store"
)

// CDBError lists every record of a users/cdb file that cannot be imported.
type CDBError struct {
	Name    string
	Records []RecordError
}

// RecordError is one bad record; Record counts from 1 in file order.
type RecordError struct {
	Record int
	Key    string
	Reason string
}

// Error returns one line per bad record, "<name> record N (key K):
// reason", with lineerr's cap: the first 100 of them, then "... and N
// more".
func (e *CDBError) Error() string {
	return lineerr.Join(len(e.Records), func(i int) string {
		r := &e.Records[i]
		return fmt.Sprintf("%s record %d (key %q): %s", e.Name, r.Record, r.Key, r.Reason)
	})
}

// AssignFromCDB reads the assignments of a qmail users/cdb file, in the
// order qmail-newu added them, or returns a *CDBError naming every bad
// record (or the error of a file that is not a cdb file at all). name is
// used in messages.
func AssignFromCDB(data []byte, name string) ([]store.AssignEntry, error) {
	c, err := ParseCDB(data, name)
	if err != nil {
		return nil, err
	}
	var (
		out []store.AssignEntry
		bad []RecordError
		n   int
	)
	err = c.ForEach(func(key, val []byte) error {
		n++
		if len(key) == 0 { // wildchars
			return nil
		}
		e, reason := assignFromRecord(key, val)
		if reason != "" {
			bad = append(bad, RecordError{Record: n, Key: lineerr.Cut(string(key)), Reason: reason})
			return nil
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, &CDBError{Name: name, Records: bad}
	}
	return out, nil
}

// assignFromRecord makes the assign line of one record and checks it as
// ParseAssign would.
func assignFromRecord(key, val []byte) (store.AssignEntry, string) {
	if key[0] != '!' {
		return store.AssignEntry{}, `key does not start with "!"`
	}
	kind, local := byte('+'), key[1:]
	if i := bytes.IndexByte(local, 0); i >= 0 {
		if i != len(local)-1 {
			return store.AssignEntry{}, "NUL byte inside the local part"
		}
		kind, local = '=', local[:i]
	}
	fields := bytes.Split(val, []byte{0})
	if len(fields) != 6 {
		return store.AssignEntry{}, fmt.Sprintf("data has %d NUL-separated fields, want 6 (user, uid, gid, home, dash, ext)", len(fields))
	}
	if bytes.ContainsAny(local, ":\n") || bytes.ContainsAny(val, ":\n") {
		return store.AssignEntry{}, `":" or newline in a field: no users/assign line can say it`
	}
	line := string(kind) + string(local) + ":" + string(bytes.Join(fields, []byte(":"))) + ":"
	return parseAssignLine(line)
}
