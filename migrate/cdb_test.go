package migrate

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/store"
)

// makeCDB writes records as cdb_make does: records in order, then 256
// hash tables of twice as many slots as entries, with the documented hash.
func makeCDB(recs [][2]string) []byte {
	out := make([]byte, cdbHeader)
	type slot struct{ h, pos uint32 }
	var tables [256][]slot
	for _, r := range recs {
		pos := uint32(len(out))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(r[0])))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(r[1])))
		out = append(out, r[0]...)
		out = append(out, r[1]...)
		h := cdbHash([]byte(r[0]))
		tables[h&255] = append(tables[h&255], slot{h, pos})
	}
	for i, t := range tables {
		n := uint32(2 * len(t))
		binary.LittleEndian.PutUint32(out[8*i:], uint32(len(out)))
		binary.LittleEndian.PutUint32(out[8*i+4:], n)
		slots := make([]slot, n)
		for _, s := range t {
			j := (s.h >> 8) % n
			for slots[j].pos != 0 {
				j = (j + 1) % n
			}
			slots[j] = s
		}
		for _, s := range slots {
			out = binary.LittleEndian.AppendUint32(out, s.h)
			out = binary.LittleEndian.AppendUint32(out, s.pos)
		}
	}
	return out
}

func TestCDBHashIsDJBs(t *testing.T) {
	// h = 5381; h = h*33 ^ c, by hand for "a": 5381*33 ^ 'a'.
	if got, want := cdbHash([]byte("a")), uint32(5381*33^'a'); got != want {
		t.Fatalf("cdbHash(a) = %d, want %d", got, want)
	}
	if got := cdbHash(nil); got != 5381 {
		t.Fatalf("cdbHash of nothing = %d, want 5381", got)
	}
}

func TestCDBLooksUpAndListsRecordsInOrder(t *testing.T) {
	var recs [][2]string
	for _, k := range []string{"one", "two", "three", "two", ""} {
		recs = append(recs, [2]string{k, "v-" + k})
	}
	for i := range 300 { // enough to fill every table and collide
		recs = append(recs, [2]string{"key" + string(rune('a'+i%26)) + strings.Repeat("x", i), "d"})
	}
	c, err := ParseCDB(makeCDB(recs), "test.cdb")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		d, ok, err := c.Get([]byte(r[0]))
		if err != nil || !ok {
			t.Fatalf("Get(%q) = %q, %v, %v", r[0], d, ok, err)
		}
	}
	if d, _, _ := c.Get([]byte("two")); string(d) != "v-two" {
		t.Errorf("Get(two) = %q", d)
	}
	if _, ok, _ := c.Get([]byte("absent")); ok {
		t.Error("Get found a key that is not there")
	}
	var keys []string
	c.ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	if len(keys) != len(recs) || keys[0] != "one" || keys[3] != "two" || keys[4] != "" {
		t.Errorf("ForEach gave %d keys, first %q", len(keys), keys[:5])
	}
}

func TestCDBRefusesWhatIsNotOne(t *testing.T) {
	for name, data := range map[string][]byte{
		"a file shorter than the header": make([]byte, 100),
		"a header pointing outside":      append([]byte{0xff, 0xff, 0xff, 0x00}, make([]byte, 2044)...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCDB(data, "x.cdb"); err == nil || !strings.Contains(err.Error(), "x.cdb: not a cdb file") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	good := makeCDB([][2]string{{"k", "v"}})
	binary.LittleEndian.PutUint32(good[cdbHeader:], 1000) // key length past the records
	c, err := ParseCDB(good, "x.cdb")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ForEach(func(_, _ []byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "runs past") {
		t.Fatalf("a record running past the records' end: %v", err)
	}
}

// usersCDB encodes entries as qmail-newu does.
func usersCDB(entries []store.AssignEntry) []byte {
	var recs [][2]string
	wild := map[byte]bool{}
	for _, e := range entries {
		key := "!" + strings.ToLower(e.Local)
		if e.Wildcard {
			if e.Local != "" {
				wild[e.Local[len(e.Local)-1]] = true
			}
		} else {
			key += "\x00"
		}
		data := strings.Join([]string{e.User, itoa(e.UID), itoa(e.GID), e.Home, e.Dash, e.Ext}, "\x00")
		recs = append(recs, [2]string{key, data})
	}
	var wc []byte
	for c := range wild {
		wc = append(wc, c)
	}
	return makeCDB(append(recs, [2]string{"", string(wc)}))
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestUsersCDBReadsBackTheAssignFile(t *testing.T) {
	in := "+:alias:7790:2108:/var/qmail/alias:-::\n+joe-:joe:507:100:/home/joe:-::\n=joe:joe:507:100:/home/joe:::\n=joe:other:508:100:/home/other:::\n.\n"
	want, err := ParseAssign(strings.NewReader(in), "assign")
	if err != nil {
		t.Fatal(err)
	}
	got, err := AssignFromCDB(usersCDB(want), "users/cdb")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v (duplicates must keep their order)", i, got[i], want[i])
		}
	}
}

func TestUsersCDBReportsEveryBadRecord(t *testing.T) {
	data := makeCDB([][2]string{
		{"!ok\x00", "u\x001\x001\x00/h\x00\x00"},
		{"!root\x00", "root\x000\x000\x00/root\x00\x00"},
		{"!few\x00", "u\x001\x001"},
		{"?x", "u\x001\x001\x00/h\x00\x00"},
		{"!a\x00b\x00", "u\x001\x001\x00/h\x00\x00"},
		{"!rel", "u\x001\x001\x00home\x00-\x00"},
	})
	_, err := AssignFromCDB(data, "users/cdb")
	var ce *CDBError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *CDBError", err)
	}
	wantReasons := map[int]string{2: reasonUIDRoot, 3: "fields", 4: `"!"`, 5: "NUL byte", 6: reasonHome}
	if len(ce.Records) != len(wantReasons) {
		t.Fatalf("bad records: %v", err)
	}
	for _, r := range ce.Records {
		if !strings.Contains(r.Reason, wantReasons[r.Record]) {
			t.Errorf("record %d: reason %q, want it to say %q", r.Record, r.Reason, wantReasons[r.Record])
		}
	}
	if !strings.Contains(err.Error(), `users/cdb record 2 (key "!root\x00"): uid 0`) {
		t.Errorf("message: %v", err)
	}
}

func FuzzCDB(f *testing.F) {
	f.Add(makeCDB([][2]string{{"!joe\x00", "joe\x001\x001\x00/home/joe\x00\x00"}, {"", "-"}}))
	f.Add(make([]byte, cdbHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16<<10 {
			// Looking every key up is quadratic in the worst case, as
			// in djb's cdb: a large input only makes the run slow.
			return
		}
		c, err := ParseCDB(data, "fuzz.cdb")
		if err != nil {
			return
		}
		c.ForEach(func(k, _ []byte) error {
			c.Get(k)
			return nil
		})
		c.Get([]byte("!x\x00"))
		AssignFromCDB(data, "fuzz.cdb")
	})
}
