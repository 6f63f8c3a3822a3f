package tablefile

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestCheckSchemaNamesWhatIsWrong(t *testing.T) {
	other := []byte("other")
	cases := []struct {
		name string
		fill func(*bolt.Tx) error
		want string // "" for no error
	}{
		{"as PutSchema made it", func(tx *bolt.Tx) error {
			if err := PutSchema(tx, 3); err != nil {
				return err
			}
			_, err := tx.CreateBucket(other)
			return err
		}, ""},
		{"no meta bucket", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket(other)
			return err
		}, "not a gqmail test table"},
		{"no other bucket", func(tx *bolt.Tx) error {
			return PutSchema(tx, 3)
		}, "not a gqmail test table"},
		{"a damaged version", withVersion(other, []byte{0, 3}), "schema version record is damaged"},
		{"another version", withVersion(other, binary.BigEndian.AppendUint32(nil, 4)), "schema version 4, this gqmail understands 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.db")
			if err := Replace(path, Options{}, c.fill); err != nil {
				t.Fatal(err)
			}
			r := NewReader(path, func(tx *bolt.Tx) error { return CheckSchema(tx, "test", 3, other) })
			defer r.Close()
			_, err := r.View(func(*bolt.Tx) error { return nil })
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || err.Error() != path+": "+c.want):
				t.Fatalf("error %v, want %q", err, path+": "+c.want)
			}
		})
	}
}

// withVersion fills a table with the bucket other and a meta bucket
// whose version record is v.
func withVersion(other, v []byte) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket(other); err != nil {
			return err
		}
		return meta.Put(keySchema, v)
	}
}
