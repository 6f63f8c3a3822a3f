package tablefile

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A table says which schema it is written in the one way the users/
// tables share: a bucket "meta" whose key "schema" holds the version, a
// big-endian uint32. PutSchema writes it and CheckSchema checks it.
var (
	bucketMeta = []byte("meta")
	keySchema  = []byte("schema")
)

// PutSchema makes the meta bucket, holding version, in tx: the
// transaction of a Replace's fill, which makes the table's other buckets.
func PutSchema(tx *bolt.Tx, version uint32) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, version))
}

// CheckSchema says whether tx reads a table of version with the buckets
// named, as PutSchema and the table's writer made it. Without the meta
// bucket or one of buckets, the error is "not a gqmail KIND table"; a
// version record that is not 4 bytes is damaged; another version is
// named with the one this gqmail understands. The errors do not name
// the file: Reader's, and the callers', do.
func CheckSchema(tx *bolt.Tx, kind string, version uint32, buckets ...[]byte) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("not a gqmail %s table", kind)
	}
	for _, b := range buckets {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("not a gqmail %s table", kind)
		}
	}
	v := meta.Get(keySchema)
	if len(v) != 4 {
		return errors.New("schema version record is damaged")
	}
	if n := binary.BigEndian.Uint32(v); n != version {
		return fmt.Errorf("schema version %d, this gqmail understands %d", n, version)
	}
	return nil
}
