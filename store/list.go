package store

import (
	bolt "go.etcd.io/bbolt"
)

// List returns up to limit queued envelopes with IDs greater than after, in
// ID order. Listing a large queue pages through short read transactions,
// since a long one would stop a writer that must grow the file.
func (db *DB) List(after MsgID, limit int) ([]Envelope, error) {
	var out []Envelope
	err := db.view(func(tx *bolt.Tx) error {
		out = out[:0]
		c := tx.Bucket(bucketMsgs).Cursor()
		for k, v := c.Seek(msgKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			env, err := decodeEnvelope(MsgID(beUint64(k)), v)
			if err != nil {
				return err
			}
			out = append(out, *env)
		}
		return nil
	})
	return out, err
}

// Count returns the number of queued messages and of pending recipients
// that are not held (those in the due index).
func (db *DB) Count() (messages, pending int, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		messages = tx.Bucket(bucketMsgs).Stats().KeyN
		pending = tx.Bucket(bucketDue).Stats().KeyN
		return nil
	})
	return messages, pending, err
}
