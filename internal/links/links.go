// Package links puts gqmail's injection commands where mail software looks
// for them: /usr/sbin/sendmail, /usr/lib/sendmail, /usr/bin/mailq and the
// root's bin/ directory, as qmail's install does with its own.
//
// It guarantees that a file which is not gqmail's is never replaced unless
// the caller forces it, and that a forced replacement keeps the old file
// beside the link under a name that says what it was. A link is made under
// a temporary name and renamed over the old path, so at every moment the
// path names either the old file or the new link, never nothing: a cron
// job that runs sendmail while the links are made still finds one.
//
// A file is gqmail's when it is a Go program built from gqmail's module
// (its build information says so), whether it is reached through a
// symbolic link or is a copy. Nothing is run to find out. That is a check
// against mistakes (another MTA's sendmail), not against an attacker, who
// can build a program with any module path: against them, Install, when
// run as root, refuses any link or target that another user could change
// (Trusted), so that root never links into, or links to, a place someone
// else controls.
package links

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Module is the Go module path gqmail's programs are built from.
const Module = "github.com/gqmail/gqmail"

// SavedSuffix is appended to the name of a file that a forced install
// moved aside.
const SavedSuffix = ".before-gqmail"

// Link is one symbolic link to make: Path will point at Target.
type Link struct {
	Path   string
	Target string
}

// Plan lists the links for the commands in bindir, with root the gqmail
// root (its bin/ gets qmail's names) and destdir a prefix put before every
// path the links are made at ("" for the running system; a staging
// directory for a package or a test).
func Plan(bindir, root, destdir string) []Link {
	at := func(p string) string { return filepath.Join(destdir, p) }
	cmd := func(name string) string { return filepath.Join(bindir, name) }
	plan := []Link{
		{at("/usr/sbin/sendmail"), cmd("sendmail")},
		{at("/usr/lib/sendmail"), cmd("sendmail")},
		{at("/usr/bin/mailq"), cmd("mailq")},
		{at("/usr/bin/newaliases"), cmd("newaliases")},
	}
	for _, name := range []string{"sendmail", "mailq", "qmail-inject", "qmail-queue", "forward"} {
		plan = append(plan, Link{at(filepath.Join(root, "bin", name)), cmd(name)})
	}
	return plan
}

// Outcome is what Install did with one link.
type Outcome int

const (
	// Made: the path did not exist, or was gqmail's, and is now the link.
	Made Outcome = iota
	// Already: the path was this link already; nothing was touched.
	Already
	// LeftAlone: the path is not gqmail's and force was not given.
	LeftAlone
	// Saved: the path was not gqmail's; it was moved to Path+SavedSuffix
	// and the link made (force).
	Saved
)

// Result says what happened at one path and, for LeftAlone and Saved,
// what was there.
type Result struct {
	Link
	Outcome Outcome
	Found   string // what was at Path before, in words
}

func (r Result) String() string {
	switch r.Outcome {
	case Already:
		return fmt.Sprintf("%s -> %s: already there", r.Path, r.Target)
	case LeftAlone:
		return fmt.Sprintf("%s: left alone, it is %s (--force moves it to %s and links)", r.Path, r.Found, r.Path+SavedSuffix)
	case Saved:
		return fmt.Sprintf("%s -> %s: made; what was there (%s) is now %s", r.Path, r.Target, r.Found, r.Path+SavedSuffix)
	default:
		return fmt.Sprintf("%s -> %s: made", r.Path, r.Target)
	}
}

// Install makes one link. The target must be gqmail's: a plan that points
// at the wrong directory is refused before anything is changed.
func Install(l Link, force bool) (Result, error) {
	res := Result{Link: l}
	if err := Trusted(l.Target); err != nil {
		return res, fmt.Errorf("link %s -> %s: %w", l.Path, l.Target, err)
	}
	if err := Trusted(filepath.Dir(l.Path)); err != nil {
		return res, fmt.Errorf("link %s: %w", l.Path, err)
	}
	if ours, what := Ours(l.Target); !ours {
		return res, fmt.Errorf("link %s -> %s: the target is %s, not a gqmail command", l.Path, l.Target, what)
	}
	if cur, err := os.Readlink(l.Path); err == nil && cur == l.Target {
		res.Outcome = Already
		return res, nil
	}
	if _, err := os.Lstat(l.Path); err == nil {
		ours, what := Ours(l.Path)
		res.Found = what
		if !ours {
			if !force {
				res.Outcome = LeftAlone
				return res, nil
			}
			res.Outcome = Saved
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("link %s: %w", l.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
		return res, fmt.Errorf("link %s: %w", l.Path, err)
	}
	if res.Outcome == Saved {
		saved := l.Path + SavedSuffix
		if _, err := os.Lstat(saved); err == nil {
			return res, fmt.Errorf("link %s: %s exists already; move one of them yourself", l.Path, saved)
		}
		// A hard link keeps the old file under its new name while the
		// path still names it; the rename below then replaces the path.
		if err := os.Link(l.Path, saved); err != nil {
			return res, fmt.Errorf("link %s: keeping the old file as %s: %w", l.Path, saved, err)
		}
	}
	tmp := fmt.Sprintf("%s.gqmail-new.%d", l.Path, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(l.Target, tmp); err != nil {
		return res, fmt.Errorf("link %s: %w", l.Path, err)
	}
	if err := os.Rename(tmp, l.Path); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("link %s: %w", l.Path, err)
	}
	return res, nil
}

// Ours says whether path (followed through symbolic links) is a program
// built from gqmail's module and, if it is not, what it is, in words.
func Ours(path string) (bool, string) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if target, lerr := os.Readlink(path); lerr == nil {
			return false, fmt.Sprintf("a dangling symbolic link to %s", target)
		}
		return false, "missing"
	case err != nil:
		return false, fmt.Sprintf("unreadable (%v)", err)
	case !fi.Mode().IsRegular():
		return false, fmt.Sprintf("not a regular file (%v)", fi.Mode().Type())
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return false, describe(path, "a file that is not a Go program")
	}
	if info.Main.Path != Module {
		return false, describe(path, fmt.Sprintf("a Go program from %s", info.Main.Path))
	}
	return true, "gqmail's"
}

// describe names what a path is, saying where a symbolic link leads.
func describe(path, what string) string {
	if target, err := os.Readlink(path); err == nil {
		return fmt.Sprintf("a symbolic link to %s, %s", target, what)
	}
	return what
}

// Trusted checks, for a process running as root, that no other user could
// have put anything on the way to path: every directory from / down to
// the deepest one that exists, and path itself if it exists, is owned by
// root and writable by no one else, except a sticky directory (such as
// /tmp) whose next entry is root's. Symbolic links on the way are
// followed and their targets checked the same way, since a link in a
// trusted directory was made by root. Missing directories below are made
// by root, under a trusted one. For anyone but root it checks nothing:
// they can only harm what they could change anyway.
func Trusted(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return trusted(filepath.Clean(path), 0)
}

func trusted(path string, links int) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s is not an absolute path", path)
	}
	if links > 40 {
		return fmt.Errorf("%s: too many symbolic links", path)
	}
	cur := "/"
	fi, err := owned(cur)
	if err != nil {
		return err
	}
	rest := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, name := range rest {
		if name == "" {
			continue
		}
		next := filepath.Join(cur, name)
		openToOthers := fi.Mode().Perm()&0o022 != 0 // sticky, or owned would have refused it
		fi, err = owned(next)
		if errors.Is(err, fs.ErrNotExist) {
			if openToOthers {
				return fmt.Errorf("%s would be made in %s, where others may make it first", next, cur)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			return trusted(filepath.Join(append([]string{target}, rest[i+1:]...)...), links+1)
		}
		cur = next
	}
	return nil
}

// owned checks one existing entry: root's, and writable by no one else
// unless it is a sticky directory (whose root-owned entries no one else
// may replace).
func owned(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: no owner known", path)
	}
	if st.Uid != 0 {
		return nil, fmt.Errorf("%s belongs to uid %d, not root: another user could change what root links or runs there", path, st.Uid)
	}
	if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o022 != 0 && !(fi.IsDir() && fi.Mode()&fs.ModeSticky != 0) {
		return nil, fmt.Errorf("%s is writable by group or others (%v): another user could change what root links or runs there", path, fi.Mode())
	}
	return fi, nil
}
