// The cdb format, as djb's cdb and qmail's cdb_make write it, and as CDB
// reads it.
//
// # Layout
//
// All numbers are 32-bit little-endian. A cdb file is
//
//	header   256 pairs (table position, table slots): 2048 bytes
//	records  from byte 2048: key length, data length, key, data; in the
//	         order they were added, duplicates kept
//	tables   256 hash tables of (hash, record position) slots
//
// The records end where the first hash table begins. A key's hash is
// h = 5381, then h = ((h << 5) + h) ^ c for each byte c (h*33 xor c); it is
// looked up in table h mod 256, from slot (h >> 8) mod slots on, wrapping,
// until a slot with record position 0.
//
// qmail writes users/cdb (qmail-newu) and control/morercpthosts.cdb
// (qmail-newmrh) this way; migrate reads them to import the users table.

package migrate

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// cdbHeader is the size of a cdb file's table of hash tables.
const cdbHeader = 2048

// CDB is a cdb file read into memory. It is never modified; its methods
// are safe for concurrent use.
type CDB struct {
	name string
	data []byte
	// end is where the records end and the hash tables begin.
	end uint32
}

// ParseCDB checks data as a cdb file named name (for messages) and
// returns it. It refuses a file shorter than the header, and a header
// that points outside the file.
func ParseCDB(data []byte, name string) (*CDB, error) {
	if len(data) < cdbHeader {
		return nil, fmt.Errorf("%s: not a cdb file: %d bytes, shorter than the 2048-byte header", name, len(data))
	}
	if uint64(len(data)) > 1<<32-1 {
		return nil, fmt.Errorf("%s: not a cdb file: larger than 4 GiB", name)
	}
	end := uint32(len(data))
	for i := 0; i < 256; i++ {
		pos, slots := le32(data, 8*i), le32(data, 8*i+4)
		if pos < cdbHeader || uint64(pos)+8*uint64(slots) > uint64(len(data)) {
			return nil, fmt.Errorf("%s: not a cdb file: hash table %d at %d with %d slots is outside the file (%d bytes)", name, i, pos, slots, len(data))
		}
		end = min(end, pos)
	}
	return &CDB{name: name, data: data, end: end}, nil
}

func le32(b []byte, at int) uint32 { return binary.LittleEndian.Uint32(b[at:]) }

// cdbHash is the cdb hash of key.
func cdbHash(key []byte) uint32 {
	h := uint32(5381)
	for _, c := range key {
		h = (h<<5 + h) ^ uint32(c)
	}
	return h
}

// record returns the key and data of the record at pos, and where the
// next one begins.
func (c *CDB) record(pos uint32) (key, data []byte, next uint32, err error) {
	if uint64(pos)+8 > uint64(c.end) {
		return nil, nil, 0, fmt.Errorf("%s: record at byte %d runs past the records' end (%d)", c.name, pos, c.end)
	}
	klen, dlen := le32(c.data, int(pos)), le32(c.data, int(pos)+4)
	stop := uint64(pos) + 8 + uint64(klen) + uint64(dlen)
	if stop > uint64(c.end) {
		return nil, nil, 0, fmt.Errorf("%s: record at byte %d (key %d bytes, data %d bytes) runs past the records' end (%d)", c.name, pos, klen, dlen, c.end)
	}
	k := c.data[pos+8 : pos+8+klen]
	return k, c.data[pos+8+klen : stop], uint32(stop), nil
}

// ForEach calls fn with every record in file order (the order they were
// added, duplicate keys included), and stops at fn's first error. The
// slices are the file's own bytes: fn must not change them.
func (c *CDB) ForEach(fn func(key, data []byte) error) error {
	for pos := uint32(cdbHeader); pos < c.end; {
		k, d, next, err := c.record(pos)
		if err != nil {
			return err
		}
		if err := fn(k, d); err != nil {
			return err
		}
		pos = next
	}
	return nil
}

// Get returns the data of the first record with key, through the hash
// tables as qmail looks it up, and false when there is none.
func (c *CDB) Get(key []byte) ([]byte, bool, error) {
	h := cdbHash(key)
	i := int(h&255) * 8
	tpos, slots := le32(c.data, i), le32(c.data, i+4)
	if slots == 0 {
		return nil, false, nil
	}
	start := (h >> 8) % slots
	for n := uint32(0); n < slots; n++ {
		at := tpos + 8*((start+n)%slots)
		sh, rpos := le32(c.data, int(at)), le32(c.data, int(at)+4)
		if rpos == 0 {
			return nil, false, nil
		}
		if sh != h {
			continue
		}
		k, d, _, err := c.record(rpos)
		if err != nil {
			return nil, false, err
		}
		if bytes.Equal(k, key) {
			return d, true, nil
		}
	}
	return nil, false, nil
}
