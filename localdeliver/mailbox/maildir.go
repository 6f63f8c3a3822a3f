package mailbox

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
)

// Maildir delivers messages into maildirs. A delivery child makes one
// Maildir and uses it for all its deliveries, from any number of goroutines:
// the count inside it is what keeps names unique when one process delivers
// several messages in the same microsecond. A Maildir must not be copied
// after first use.
type Maildir struct {
	// Host is the host name in file names. Empty means os.Hostname at each
	// delivery.
	Host string
	// FS is the file system to write to; nil means OS.
	FS FS

	seq atomic.Uint64
}

// maxCreateTries bounds the O_EXCL attempts, as qmail's three.
const maxCreateTries = 3

// Deliver writes msg into the maildir dir (relative to the working
// directory or absolute; a trailing "/" is allowed) and returns the name
// the file got in new/. The file holds RPLINE, DTLINE and msg byte for
// byte. It is written to tmp/ with O_EXCL, fsync'd and closed, linked into
// new/ under the same name, removed from tmp/, and new/ is fsync'd: nil
// means the message is on disk.
//
// A missing maildir, or one that is not a directory, is "Unable to chdir to
// maildir. (#4.2.1)"; every other failure (a missing tmp/ or new/ included)
// is "Temporary error on maildir delivery. (#4.3.0)" and leaves nothing in
// tmp/ or new/. ctx is consulted before the file is created; once writing
// has begun the delivery is carried through. Every failure is a temporary
// *outcome.Error.
func (m *Maildir) Deliver(ctx context.Context, dir string, env Envelope, msg io.Reader) (string, error) {
	fsys := orOS(m.FS)
	if err := checkMaildir(fsys, dir); err != nil {
		return "", err
	}
	host := m.Host
	if host == "" {
		host, _ = os.Hostname() // qmail too goes on with an empty name
	}
	host = escapeHost(host)

	var (
		f    File
		name string
		tmp  string
	)
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return "", maildirErr(err)
		}
		name = m.uniqueName(time.Now(), host)
		tmp = filepath.Join(dir, "tmp", name)
		var err error
		f, err = fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || try == maxCreateTries {
			return "", maildirErr(err)
		}
	}

	if err := writeMaildir(f, env, msg); err != nil {
		fsys.Remove(tmp)
		return "", maildirErr(err)
	}
	newDir := filepath.Join(dir, "new")
	dst := filepath.Join(newDir, name)
	// link, not rename: link refuses to replace an existing new/ file.
	if err := fsys.Link(tmp, dst); err != nil {
		fsys.Remove(tmp)
		return "", maildirErr(err)
	}
	if err := syncDir(fsys, newDir); err != nil {
		// The link may not survive a crash, so the delivery will be
		// retried; take the file back so that a retry is not also a
		// duplicate.
		fsys.Remove(dst)
		fsys.Remove(tmp)
		return "", maildirErr(err)
	}
	// A tmp/ file left behind is only litter: readers clean tmp/.
	fsys.Remove(tmp)
	return name, nil
}

// writeMaildir writes the file's contents, fsyncs and closes f; f is closed
// whatever happens.
func writeMaildir(f File, env Envelope, msg io.Reader) error {
	head := RPLine(env.Sender) + DTLine(env.Recipient)
	_, err := f.Write([]byte(head))
	if err == nil {
		_, err = io.Copy(f, msg)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr // NFS reports some write errors only at close
	}
	return err
}

// checkMaildir does what qmail's chdir(dir) checks, plus the symbolic link
// rule of the package doc.
func checkMaildir(fsys FS, dir string) error {
	clean := filepath.Clean(dir)
	fi, err := fsys.Lstat(clean)
	if err != nil {
		return chdirErr(err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if !linkTrusted(fi) {
			return symlinkRefusal(dir, false, "a directory")
		}
		if fi, err = fsys.Stat(clean); err != nil {
			return chdirErr(err)
		}
		if !ownedByMe(fi) {
			return symlinkRefusal(dir, true, "a directory")
		}
	}
	if !fi.IsDir() {
		return chdirErr(&fs.PathError{Op: "chdir", Path: dir, Err: syscall.ENOTDIR})
	}
	return nil
}

func chdirErr(err error) error {
	if isTemp(err) {
		return maildirErr(err)
	}
	return outcome.TemporaryErr(err, "Unable to chdir to maildir. (#4.2.1)")
}

func maildirErr(err error) error {
	return outcome.TemporaryErr(err, "Temporary error on maildir delivery. (#4.3.0)")
}

// uniqueName returns <sec>.M<usec>P<pid>Q<count>.<host>, the maildir
// spec's modern name: Q<count> (this Maildir's deliveries so far) tells
// apart files made in the same microsecond by one process.
func (m *Maildir) uniqueName(now time.Time, host string) string {
	b := make([]byte, 0, 64+len(host))
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	usec := now.Nanosecond() / 1000
	for p := 100000; p > 1 && usec < p; p /= 10 {
		b = append(b, '0') // six digits, so names sort by time
	}
	b = strconv.AppendInt(b, int64(usec), 10)
	b = append(b, 'P')
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, m.seq.Add(1), 10)
	b = append(b, '.')
	b = append(b, host...)
	return string(b)
}

// escapeHost keeps the host name from breaking the file name: "/" would
// make a path and ":" starts the info part that readers add in cur/.
func escapeHost(h string) string {
	if !strings.ContainsAny(h, "/:") {
		return h
	}
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
}
