package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/gqmail/gqmail/internal/route"
)

// SchemaVersion is the layout of the queue database this code reads and
// writes. Version 2 added body files (queue/bodies/) and the message
// record that names them; a version 1 database is a version 2 one with no
// body files. Version 3 added held recipients (recipient record format
// 2, written only for a held one); a version 2 database is a version 3
// one with nothing held. An older database is marked with the current
// version when opened for writing, so that an older gqmail, which could
// not read a held recipient, refuses it rather than misread it.
const SchemaVersion = 3

var (
	bucketMeta   = []byte("meta")
	bucketMsgs   = []byte("msgs")
	bucketRcpts  = []byte("rcpts")
	bucketDue    = []byte("due")
	bucketBodies = []byte("bodies")
	keySchema    = []byte("schema")
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("queue database is closed")

// DB is the queue database. Its methods are safe for concurrent use.
type DB struct {
	path   string
	bolt   *bolt.DB
	commit *committer
	// bodies is the directory of body files, beside the database.
	bodies string
	// budget bounds the bytes all spools hold in memory.
	budget budget
	// router routes new recipients (Options.Route).
	router func(addr string) route.Route

	// accepted is signalled (without blocking) after every commit that
	// queued a message, so the engine can look for new work at once.
	accepted chan struct{}
	now      func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for another process holding the file;
	// zero means one second.
	LockTimeout time.Duration
	// Owner is written next to the database ("<path>.owner") so that a
	// second process that cannot open it can say who holds it.
	Owner string
	// Now is the clock for arrival and due times; time.Now when nil.
	Now func() time.Time
	// InlineBudget bounds the bytes that spools hold in memory, all
	// together; zero means DefaultInlineBudget.
	InlineBudget int64
	// Route routes a new recipient: the live control files' decision,
	// made once when a message is queued (internal/route). A queue
	// opened without it can be read but not written to.
	Route func(addr string) route.Route
}

// Open opens the queue database at path, creating it if it does not exist.
// It refuses a file whose schema is newer than SchemaVersion or that is not
// a queue database, and a file that another process holds open.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        timeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, inUse(path)
		}
		return nil, fmt.Errorf("queue database %s: %w", path, err)
	}
	if err := checkSchema(b, path); err != nil {
		b.Close()
		return nil, err
	}
	bodies := filepath.Join(filepath.Dir(path), "bodies")
	if err := os.Mkdir(bodies, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		b.Close()
		return nil, fmt.Errorf("queue body directory: %w", err)
	}
	if opts.Owner != "" {
		// Best effort: the owner file only improves an error message.
		// Never through a symbolic link, nor into a FIFO.
		if f, err := os.OpenFile(path+".owner", os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				fmt.Fprintf(f, "%d %s\n", os.Getpid(), opts.Owner)
			}
			f.Close()
		}
	}
	db := &DB{
		path:     path,
		bolt:     b,
		bodies:   bodies,
		accepted: make(chan struct{}, 1),
		now:      opts.Now,
		router:   opts.Route,
	}
	db.budget.limit = opts.InlineBudget
	if db.budget.limit == 0 {
		db.budget.limit = DefaultInlineBudget
	}
	if db.now == nil {
		db.now = time.Now
	}
	db.commit = newCommitter(b)
	return db, nil
}

// inUse is the error for a database another process holds: it says who,
// and wraps ErrInUse.
func inUse(path string) error {
	return inUseError(fmt.Sprintf("queue database %s is in use%s", path, holder(path)))
}

type inUseError string

func (e inUseError) Error() string        { return string(e) }
func (e inUseError) Is(target error) bool { return target == ErrInUse }

func holder(path string) string {
	b, err := os.ReadFile(path + ".owner")
	if err != nil {
		return " by another process"
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return " by another process"
	}
	return fmt.Sprintf(" by process %s (%s); stop it first", f[0], strings.Join(f[1:], " "))
}

func checkSchema(b *bolt.DB, path string) error {
	// Read first: a queue that exists is opened without a write, so that
	// it opens on a full disk too.
	var fresh, old bool
	err := b.View(func(tx *bolt.Tx) error {
		fresh = tx.Bucket(bucketMeta) == nil
		if fresh {
			return nil
		}
		v, err := checkVersion(tx.Bucket(bucketMeta), path)
		old = v < SchemaVersion
		return err
	})
	if err != nil || (!fresh && !old) {
		return err
	}
	return b.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// Only an empty file may become a queue: anything else with
			// buckets of its own is not ours to rewrite.
			c := tx.Cursor()
			if k, _ := c.First(); k != nil {
				return fmt.Errorf("queue database %s: not a gqmail queue (bucket %q but no schema version)", path, k)
			}
			return createSchema(tx)
		}
		if _, err := checkVersion(meta, path); err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
}

// checkVersion returns the database's schema version, or an error if this
// code cannot read it.
func checkVersion(meta *bolt.Bucket, path string) (uint32, error) {
	v := meta.Get(keySchema)
	if len(v) != 4 {
		return 0, fmt.Errorf("queue database %s: schema version record is damaged (%d bytes)", path, len(v))
	}
	n := binary.BigEndian.Uint32(v)
	switch {
	case n > SchemaVersion:
		return n, fmt.Errorf("queue database %s has schema version %d, newer than this gqmail understands (%d); refusing to open it", path, n, SchemaVersion)
	case n < 1:
		return n, fmt.Errorf("queue database %s has unknown schema version %d", path, n)
	}
	return n, nil
}

func createSchema(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketMsgs, bucketRcpts, bucketDue, bucketBodies} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Accepted returns a channel that receives a value after a commit that
// queued at least one message. Several commits may share one value.
func (db *DB) Accepted() <-chan struct{} { return db.accepted }

func (db *DB) signalAccepted() {
	select {
	case db.accepted <- struct{}{}:
	default:
	}
}

// Close waits for the commits under way, then closes the file. Calls made
// after Close fail with ErrClosed.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.commit.stop()
		db.closeErr = db.bolt.Close()
		os.Remove(db.path + ".owner")
	})
	return db.closeErr
}

// update runs fn in a write transaction shared with other callers.
func (db *DB) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.commit.do(ctx, fn)
}

// view runs fn in a read transaction. Callers keep these short: a long
// read transaction stops a writer that must grow the file.
func (db *DB) view(fn func(*bolt.Tx) error) error {
	err := db.bolt.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
