package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The import keys: what makes an import from another queue idempotent.
//
//	imports  key (the NewMessage's ImportKey) → msgID(8) it was queued as
//
// The bucket is made by the first import that records a key, so a queue
// that never imported anything has none, and a database without it is the
// same schema version. A key is recorded in the transaction that queues
// its message and is kept after the message leaves the queue: an import
// run again after the delivery must still queue nothing. A key costs a
// few dozen bytes.
var bucketImports = []byte("imports")

// Imported says whether a message with importKey was queued, and as which
// id (that message may have been delivered since). An importer asks it
// to skip reading a message it queued before; Accept checks the key again
// inside its transaction, which is what guarantees "once".
func (db *DB) Imported(importKey string) (MsgID, bool, error) {
	if importKey == "" {
		return 0, false, errors.New("empty import key")
	}
	var (
		id MsgID
		ok bool
	)
	err := db.view(func(tx *bolt.Tx) error {
		id, ok = importedTx(tx, importKey)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("queue database %s: import key %q: %w", db.path, importKey, err)
	}
	return id, ok, nil
}

// importedTx looks importKey up; an empty key is never recorded.
func importedTx(tx *bolt.Tx, importKey string) (MsgID, bool) {
	if importKey == "" {
		return 0, false
	}
	b := tx.Bucket(bucketImports)
	if b == nil {
		return 0, false
	}
	v := b.Get([]byte(importKey))
	if len(v) != 8 {
		return 0, false
	}
	return MsgID(binary.BigEndian.Uint64(v)), true
}

// recordImportTx records that importKey was queued as id; an empty key
// records nothing.
func recordImportTx(tx *bolt.Tx, importKey string, id MsgID) error {
	if importKey == "" {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketImports)
	if err != nil {
		return err
	}
	return b.Put([]byte(importKey), binary.BigEndian.AppendUint64(nil, uint64(id)))
}
