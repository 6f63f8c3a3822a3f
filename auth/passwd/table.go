package passwd

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/tablefile"
)

const schemaVersion = 1

var bucketLogins = []byte("logins")

// maxLogin is the longest login, in bytes.
const maxLogin = 255

// Path returns the table's path in the root p: users/passwd.db.
func Path(p layout.Paths) string {
	return filepath.Join(p.Users, "passwd.db")
}

// NormalizeLogin returns login as the table keys it, ASCII-lowercased, or
// an error saying why it cannot be a login (see the package doc). The
// error quotes the login, as given on a command line; loginFault says the
// same without it.
func NormalizeLogin(login string) (string, error) {
	fault := loginFault(login)
	switch {
	case fault == "":
		return asciiLower(login), nil
	case login == "" || len(login) > maxLogin:
		return "", errors.New(fault)
	case !utf8.ValidString(login):
		return "", fmt.Errorf("login %q is not valid UTF-8", login)
	}
	return "", fmt.Errorf("login %q has white space, a control character or a colon", login)
}

// loginFault says why login cannot be a login, in a fixed text that holds
// none of it (a line of a passwd-file may be a password), or "" when it
// can be one.
func loginFault(login string) string {
	switch {
	case login == "":
		return "empty login"
	case len(login) > maxLogin:
		return fmt.Sprintf("login of %d bytes is longer than %d", len(login), maxLogin)
	case !utf8.ValidString(login):
		return "the login is not valid UTF-8"
	case strings.ContainsFunc(login, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' }):
		return "the login has white space, a control character or a colon"
	}
	return ""
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// Check says whether password is login's password in the table at path.
// A login that is not in the table, or cannot be one, and a missing table,
// give false after as much work as a login with a hash from Hash. The
// error is for temporary trouble only: the table cannot be read, is not a
// password table, or may be changed by others than its owner, or the
// login's stored hash does not decode.
func Check(path, login, password string) (bool, error) {
	hash, found := "", false
	if key, err := NormalizeLogin(login); err == nil {
		hash, found, err = lookup(path, key)
		if err != nil {
			return false, err
		}
	}
	if !found {
		verify(dummyHash, password)
		return false, nil
	}
	ok, err := verify(hash, password)
	if err != nil {
		return false, fmt.Errorf("passwd table %s: login %q: %w", path, asciiLower(login), err)
	}
	return ok, nil
}

// lookup returns the hash stored for a normalized login.
func lookup(path, login string) (hash string, found bool, err error) {
	db, _, err := openRead(path)
	if db == nil {
		return "", false, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketLogins).Get([]byte(login)); v != nil {
			hash, found = string(v), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("passwd table %s: login %q: %w", path, login, err)
	}
	return hash, found, nil
}

// List returns the logins of the table at path, in byte order. A missing
// table has none.
func List(path string) ([]string, error) {
	m, _, err := readAll(path)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(m)), nil
}

// openRead opens the table read-only, after checking that only its owner
// may change it. It returns a nil DB and no error when there is no table,
// and the file's information with the DB.
func openRead(path string) (*bolt.DB, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("passwd table %s: %w", path, unwrapPath(err))
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return nil, nil, fmt.Errorf("passwd table %s has mode %04o: others than its owner may change it, so it is not used (chmod 600 %s)", path, perm, path)
	}
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil // removed since the stat
	}
	if err != nil {
		return nil, nil, fmt.Errorf("passwd table %s: %w", path, unwrapPath(err))
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tablefile.CheckSchema(tx, "password", schemaVersion, bucketLogins)
	})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("passwd table %s: %w", path, err)
	}
	return db, fi, nil
}

// readAll returns every login and hash of the table, and the file's
// information (nil when there is no table).
func readAll(path string) (map[string]string, fs.FileInfo, error) {
	m := map[string]string{}
	db, fi, err := openRead(path)
	if db == nil {
		return m, nil, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLogins).ForEach(func(k, v []byte) error {
			m[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("passwd table %s: %w", path, err)
	}
	return m, fi, nil
}

// Set gives login the hash in the table at path, adding the login if the
// table does not have it, and making the table if there is none. The
// hash must pass CheckHash. On error the table is unchanged.
func Set(path, login, hash string) error {
	key, err := NormalizeLogin(login)
	if err != nil {
		return fmt.Errorf("passwd table %s: %w", path, err)
	}
	if err := CheckHash(hash); err != nil {
		return fmt.Errorf("passwd table %s: login %q: %w", path, key, err)
	}
	return update(path, func(m map[string]string) bool {
		m[key] = hash
		return true
	})
}

// Delete removes login from the table at path and says whether it was
// there. The file is not rewritten when it was not.
func Delete(path, login string) (bool, error) {
	key, err := NormalizeLogin(login)
	if err != nil {
		return false, fmt.Errorf("passwd table %s: %w", path, err)
	}
	existed := false
	err = update(path, func(m map[string]string) bool {
		_, existed = m[key]
		delete(m, key)
		return existed
	})
	return existed, err
}

// update applies change to the whole table and, if change says it changed
// something, writes the result in place of the table, all under the
// writers' lock.
func update(path string, change func(map[string]string) bool) error {
	unlock, err := lockTable(path)
	if err != nil {
		return fmt.Errorf("passwd table %s: %w", path, err)
	}
	defer unlock()
	m, old, err := readAll(path)
	if err != nil {
		return err
	}
	if !change(m) {
		return nil
	}
	return replace(path, m, old)
}

// lockTable takes the writers' lock: an exclusive flock of PATH.lock, a
// file of mode 0600 beside the table, which, unlike the table, is never
// replaced. It is not the directory: users/ is open to everyone, and
// anyone could hold a lock on it. A lock file that is a link, or that
// belongs to someone else, is refused.
func lockTable(path string) (unlock func(), err error) {
	name := path + ".lock"
	fd, err := unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s belongs to uid %d with mode %o; it must be a file of this user's, mode 0600", name, st.Uid, st.Mode&0o7777)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return func() { unix.Close(fd) }, nil
}

// replace writes m as a new table file beside path and renames it over
// path. The new file takes the old one's mode and owner, or, when there
// was none, mode 0600 and (for root) the directory's owner.
func replace(path string, m map[string]string, old fs.FileInfo) error {
	dir := filepath.Dir(path)
	opts := tablefile.Options{Mode: 0o600}
	var owner *syscall.Stat_t
	if old != nil {
		opts.Mode = old.Mode().Perm()
		owner, _ = old.Sys().(*syscall.Stat_t)
	} else if fi, err := os.Stat(dir); err == nil {
		owner, _ = fi.Sys().(*syscall.Stat_t)
	}
	if owner != nil && os.Geteuid() == 0 {
		opts.Chown, opts.UID, opts.GID = true, int(owner.Uid), int(owner.Gid)
	}
	err := tablefile.Replace(path, opts, func(tx *bolt.Tx) error {
		if err := tablefile.PutSchema(tx, schemaVersion); err != nil {
			return err
		}
		logins, err := tx.CreateBucket(bucketLogins)
		if err != nil {
			return err
		}
		logins.FillPercent = 1 // keys go in in order and are never added to
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := logins.Put([]byte(k), []byte(m[k])); err != nil {
				return err
			}
		}
		return nil
	})
	var te *tablefile.Error
	switch {
	case !errors.As(err, &te) || te.Op == tablefile.OpSync:
		return err
	case te.Op == tablefile.OpCreate && errors.Is(te.Err, fs.ErrPermission):
		return fmt.Errorf("passwd table %s: cannot write in %s: %w (run as root, or as the owner of %s)", path, dir, unwrapPath(te.Err), dir)
	}
	return fmt.Errorf("passwd table %s: %w", te.Name, te.Err)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
