// Package layout creates the directory tree of a gqmail root: whatever of
// it is missing, never overwriting a file that exists, so an administrator
// can pre-seed qmail.toml or control files before the first start.
//
//	qmail.toml          daemon settings (written with every default shown)
//	control/            qmail's control files: me, locals, rcpthosts
//	queue/              the queue database, owned by the daemon's user
//	submit/             the local submission socket, owned by the daemon's user
//	pickup/             sticky and writable by all: messages injected while
//	                    the daemon is down, taken in when it runs
//	users/              the assignment table (assign.db), owned by root
//	home/               (ordinary user only) the home mail is delivered to
//	bin/                not made here: links to the commands, by qmailctl
//	                    install-links
//
// Started by an ordinary user, the root is a self-contained playground:
// every local address is assigned to that user with home DIR/home, and
// home/Maildir/ is made, so mail to anything@localhost lands in
// DIR/home/Maildir/new/.
package layout

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Paths names the parts of a root.
type Paths struct {
	Root    string
	Config  string
	Control string
	Queue   string
	QueueDB string
	Users   string
	Assign  string
	Home    string
	// Submit holds Socket, the local submission socket of the daemon.
	Submit string
	Socket string
	// Pickup is where submitters leave messages while the daemon is
	// down: the daemon's, mode 1733 (anyone may add a file; nobody else
	// may list, read by name or remove one).
	Pickup string
}

// For returns the paths under root.
func For(root string) Paths {
	return Paths{
		Root:    root,
		Config:  filepath.Join(root, "qmail.toml"),
		Control: filepath.Join(root, "control"),
		Queue:   filepath.Join(root, "queue"),
		QueueDB: filepath.Join(root, "queue", "queue.db"),
		Users:   filepath.Join(root, "users"),
		Assign:  filepath.Join(root, "users", "assign.db"),
		Home:    filepath.Join(root, "home"),
		Submit:  filepath.Join(root, "submit"),
		Socket:  filepath.Join(root, "submit", "inject.sock"),
		Pickup:  filepath.Join(root, "pickup"),
	}
}

// Owner is the account the playground's addresses are assigned to, and
// the owner of the queue directory.
type Owner struct {
	User string
	UID  int
	GID  int
}

// OwnerOf gives an account's numeric ids (as os/user's User holds them),
// refusing ids that are not numbers. It takes strings rather than a
// *user.User so that this package, which the injection commands use for
// the root's paths, does not need os/user and cgo.
func OwnerOf(name, uid, gid string) (*Owner, error) {
	u, err := strconv.Atoi(uid)
	if err != nil {
		return nil, fmt.Errorf("account %s has uid %q", name, uid)
	}
	g, err := strconv.Atoi(gid)
	if err != nil {
		return nil, fmt.Errorf("account %s has gid %q", name, gid)
	}
	return &Owner{User: name, UID: u, GID: g}, nil
}

// Options say what to create.
type Options struct {
	// Hostname becomes control/me and, with localhost, control/locals
	// and control/rcpthosts.
	Hostname string
	// ConfigText is written as qmail.toml when there is none.
	ConfigText string
	// Daemon owns queue/; when nil it is left to the current user.
	Daemon *Owner
	// Playground, when set, makes home/ with a Maildir, for the quick
	// start of an ordinary user; the daemon then assigns every local
	// address to that owner (layout knows nothing of the table).
	Playground *Owner
}

// Ensure creates what is missing under p.Root. Its errors name the path.
func Ensure(p Paths, o Options) error {
	if err := notQmail(p); err != nil {
		return err
	}
	if err := mkdir(p.Root, 0o755); err != nil {
		return err
	}
	if err := writeNew(p.Config, o.ConfigText, 0o644); err != nil {
		return err
	}
	if err := mkdir(p.Control, 0o755); err != nil {
		return err
	}
	// Controls that exist are the administrator's; only a control
	// directory with no me at all gets the starting set.
	if _, err := os.Lstat(filepath.Join(p.Control, "me")); errors.Is(err, fs.ErrNotExist) {
		hosts := "localhost\n"
		if o.Hostname != "" && o.Hostname != "localhost" {
			hosts += o.Hostname + "\n"
		}
		me := o.Hostname
		if me == "" {
			me = "localhost"
		}
		for name, text := range map[string]string{"locals": hosts, "rcpthosts": hosts} {
			if err := writeNew(filepath.Join(p.Control, name), text, 0o644); err != nil {
				return err
			}
		}
		if err := writeNew(filepath.Join(p.Control, "me"), me+"\n", 0o644); err != nil {
			return err
		}
	}
	if err := mkdir(p.Queue, 0o700); err != nil {
		return err
	}
	if o.Daemon != nil {
		if err := os.Chown(p.Queue, o.Daemon.UID, o.Daemon.GID); err != nil {
			return fmt.Errorf("%s: %w", p.Queue, err)
		}
	}
	if err := mkdir(p.Submit, 0o755); err != nil {
		return err
	}
	if err := mkdir(p.Pickup, 0o755); err != nil {
		return err
	}
	// Exactly 1733, whatever the umask.
	if err := os.Chmod(p.Pickup, 0o733|fs.ModeSticky); err != nil {
		return fmt.Errorf("%s: %w", p.Pickup, err)
	}
	if err := mkdir(p.Users, 0o755); err != nil {
		return err
	}
	if o.Playground != nil {
		return playground(p)
	}
	return nil
}

func playground(p Paths) error {
	for _, d := range []string{p.Home, filepath.Join(p.Home, "Maildir"), filepath.Join(p.Home, "Maildir", "tmp"),
		filepath.Join(p.Home, "Maildir", "new"), filepath.Join(p.Home, "Maildir", "cur")} {
		if err := mkdir(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

func mkdir(path string, mode fs.FileMode) error {
	err := os.Mkdir(path, mode)
	if err == nil || errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(path); serr != nil || !fi.IsDir() {
			return fmt.Errorf("%s: exists and is not a directory", path)
		}
		return nil
	}
	return fmt.Errorf("cannot create %s: %w", path, unwrapPath(err))
}

// writeNew writes a file only if nothing is at path.
func writeNew(path, text string, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, unwrapPath(err))
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// notQmail refuses a directory that holds a qmail installation and is not
// yet a gqmail root (it has no qmail.toml): the daemon would otherwise
// take over its queue directory, and qmaild's default root is /var/qmail.
func notQmail(p Paths) error {
	if _, err := os.Lstat(p.Config); err == nil {
		return nil
	}
	// What a qmail installation has under its home and a gqmail root
	// never does.
	for _, m := range []string{"queue/mess", "queue/todo", "queue/lock", "bin/qmail-send"} {
		path := filepath.Join(p.Root, m)
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s holds a qmail installation (%s) and is not a gqmail root; gqmail will not take it over: give qmaild another --root", p.Root, path)
		}
	}
	return nil
}

// Check says whether p is a gqmail root, which the daemon makes at its
// first start: a control/ directory and a qmail.toml. The error names what
// is missing.
func Check(p Paths) error {
	for _, need := range []struct {
		path string
		dir  bool
	}{{p.Control, true}, {p.Config, false}} {
		fi, err := os.Stat(need.path)
		switch {
		case err != nil:
			return fmt.Errorf("%s is not a gqmail root: %s is missing (qmaild --root %s makes a root at its first start)", p.Root, need.path, p.Root)
		case fi.IsDir() != need.dir:
			return fmt.Errorf("%s is not a gqmail root: %s is not a %s", p.Root, need.path, map[bool]string{true: "directory", false: "file"}[need.dir])
		}
	}
	return nil
}

// Hostname returns the host's name for control/me, lowercased.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ToLower(h)
}

// ChownQueue gives the queue and submit directories, and the files in the
// queue, to the daemon's user, which opens the database and makes the
// socket after it drops root.
//
// It runs as root over a directory the daemon's account can write, so it
// trusts nothing it finds there: each entry is opened without following a
// symbolic link, must be a directory or a regular file with one link (a
// hard link could name any file on the file system), and is changed
// through the open descriptor, so that a rename between the check and the
// change cannot redirect it.
func ChownQueue(p Paths, o *Owner) error {
	entries, err := os.ReadDir(p.Queue)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Queue, err)
	}
	paths := []string{p.Queue, p.Submit, p.Pickup}
	for _, e := range entries {
		paths = append(paths, filepath.Join(p.Queue, e.Name()))
	}
	for _, path := range paths {
		if err := chownSafely(path, o); err != nil {
			return err
		}
	}
	return nil
}

func chownSafely(path string, o *Owner) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fmt.Errorf("%s is a symbolic link; the queue holds none, so remove it", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFREG:
		if st.Nlink != 1 {
			return fmt.Errorf("%s has %d hard links; a queue file has one, so it may name a file outside the queue: remove it", path, st.Nlink)
		}
	default:
		return fmt.Errorf("%s is neither a file nor a directory; remove it", path)
	}
	if int(st.Uid) == o.UID && int(st.Gid) == o.GID {
		return nil
	}
	if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// aliasFiles are the .qmail files a qmail install puts in ~alias.
var aliasFiles = []string{".qmail-postmaster", ".qmail-mailer-daemon", ".qmail-root"}

// EnsureAlias makes the alias account's home, if missing, and its
// .qmail-postmaster, .qmail-mailer-daemon and .qmail-root files, if
// missing: each forwards to postmaster, or is empty (the alias's default
// delivery) when postmaster is "". Everything is given to the alias
// account, since its delivery child reads the files as that account.
func EnsureAlias(home string, o *Owner, postmaster string) error {
	if err := mkdir(home, 0o755); err != nil {
		return err
	}
	if err := os.Lchown(home, o.UID, o.GID); err != nil {
		return fmt.Errorf("%s: %w", home, err)
	}
	text := ""
	if postmaster != "" {
		text = "&" + postmaster + "\n"
	}
	for _, name := range aliasFiles {
		if err := writeNewOwned(filepath.Join(home, name), text, 0o644, o); err != nil {
			return err
		}
	}
	return nil
}

// writeNewOwned is writeNew, as root in a directory that o can write: the
// file is given to o through the descriptor that made it, so that o
// cannot put another file (a hard link to one of root's) under the name
// between the two steps.
func writeNewOwned(path, text string, mode fs.FileMode, o *Owner) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, unwrapPath(err))
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Chown(o.UID, o.GID)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
