package aliases

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxIncludeBytes bounds an include file: a bigger one is refused, never
// cut (a cut could end in the middle of an address).
const maxIncludeBytes = 16 << 20

// IncludeInfo is what the safety checks need of an include file.
type IncludeInfo struct {
	UID     int
	Mode    os.FileMode
	ModTime time.Time
	// Dirs are the directories of the path, "/" first, as the open walked
	// them (fstat of each descriptor). ReadIncludeFile always fills them;
	// a test's reader may leave them out.
	Dirs []DirInfo
}

// DirInfo is one directory on an include file's path.
type DirInfo struct {
	Path string
	UID  int
	// Mode holds the permission bits.
	Mode os.FileMode
}

// noOpenat2 is set once openat2 said ENOSYS.
var noOpenat2 atomic.Bool

// openBeneath opens the single name in dir, following no link of any
// kind: openat2 with RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, or, on a
// kernel without it (ENOSYS), openat with O_NOFOLLOW, which refuses a
// link of either kind as the last component: name holds no "/", and the
// caller walks the path one component at a time.
func openBeneath(dir int, name string, flags int) (int, error) {
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(dir, name, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_BENEATH,
		})
		switch err {
		case unix.ENOSYS:
			noOpenat2.Store(true)
		case unix.EPERM:
			// Some seccomp filters refuse a system call they do not
			// know with EPERM: the walk below is as strict.
		default:
			return fd, err
		}
	}
	for {
		fd, err := unix.Openat(dir, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// kindOf names what a non-regular file is, for an error.
func kindOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symbolic link, which is not followed"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	}
	return "not a regular file"
}

// pseudoFS are file systems whose files are not an administrator's
// lists: a process's /proc files are owned by root whatever they hold,
// and a FUSE file's owner and contents are what a user's daemon says (and
// its read may never end).
var pseudoFS = map[int64]string{
	unix.FUSE_SUPER_MAGIC:    "a FUSE file system",
	unix.PROC_SUPER_MAGIC:    "procfs",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.CGROUP_SUPER_MAGIC:  "cgroupfs",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2fs",
	unix.EFIVARFS_MAGIC:      "efivarfs",
	unix.BPF_FS_MAGIC:        "bpffs",
}

func dirInfo(path string, st *unix.Stat_t) DirInfo {
	return DirInfo{Path: path, UID: int(st.Uid), Mode: os.FileMode(st.Mode & 0o777)}
}

// ReadIncludeFile opens path and reads it, with its owner, mode and
// modification time and those of every directory on its path, all from
// the descriptors it walked. It follows no symbolic or magic link
// anywhere on the path, refuses a path with a "." or ".." component,
// opens the file without blocking (O_NONBLOCK) and only after it was seen
// to be a regular file, refuses a file on procfs, sysfs and the like,
// and one larger than 16 MiB.
func ReadIncludeFile(path string) ([]byte, IncludeInfo, error) {
	var info IncludeInfo
	if !strings.HasPrefix(path, "/") {
		return nil, info, errors.New("path is not absolute")
	}
	var names []string
	for _, n := range strings.Split(path, "/") {
		switch n {
		case "":
			continue
		case ".", "..":
			return nil, info, errors.New(`path has a "." or ".." component`)
		}
		names = append(names, n)
	}
	if len(names) == 0 || strings.HasSuffix(path, "/") {
		return nil, info, errors.New("is a directory")
	}
	dir, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, info, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer func() { unix.Close(dir) }()
	var st unix.Stat_t
	if err := unix.Fstat(dir, &st); err != nil {
		return nil, info, &os.PathError{Op: "fstat", Path: "/", Err: err}
	}
	info.Dirs = append(info.Dirs, dirInfo("/", &st))
	sofar := ""
	for _, n := range names[:len(names)-1] {
		sofar += "/" + n
		if err := unix.Fstatat(dir, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, info, &os.PathError{Op: "stat", Path: sofar, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, info, fmt.Errorf("%s is %s", sofar, kindOf(st.Mode))
		}
		next, err := openBeneath(dir, n, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			if err == unix.ELOOP {
				return nil, info, fmt.Errorf("%s is %s", sofar, kindOf(unix.S_IFLNK))
			}
			return nil, info, &os.PathError{Op: "open", Path: sofar, Err: err}
		}
		unix.Close(dir)
		dir = next
		if err := unix.Fstat(dir, &st); err != nil {
			return nil, info, &os.PathError{Op: "fstat", Path: sofar, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, info, fmt.Errorf("%s is %s", sofar, kindOf(st.Mode))
		}
		info.Dirs = append(info.Dirs, dirInfo(sofar, &st))
	}

	// The file: seen to be a regular file before it is opened, so that
	// no FIFO blocks and no device is opened as root; opened without
	// following a link and without blocking; then checked again.
	name := names[len(names)-1]
	var before unix.Stat_t
	if err := unix.Fstatat(dir, name, &before, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, info, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, info, fmt.Errorf("is %s", kindOf(before.Mode))
	}
	fd, err := openBeneath(dir, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		if err == unix.ELOOP {
			return nil, info, fmt.Errorf("is %s", kindOf(unix.S_IFLNK))
		}
		return nil, info, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, info, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, info, fmt.Errorf("is %s", kindOf(st.Mode))
	}
	if st.Dev != before.Dev || st.Ino != before.Ino {
		return nil, info, errors.New("was replaced while being opened")
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return nil, info, &os.PathError{Op: "fstatfs", Path: path, Err: err}
	}
	if kind, bad := pseudoFS[int64(fs.Type)]; bad {
		return nil, info, fmt.Errorf("is on %s, not an ordinary file system", kind)
	}
	if st.Size > maxIncludeBytes {
		return nil, info, fmt.Errorf("is larger than %d MiB", maxIncludeBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIncludeBytes+1))
	if err != nil {
		return nil, info, err
	}
	if len(data) > maxIncludeBytes {
		return nil, info, fmt.Errorf("is larger than %d MiB", maxIncludeBytes>>20)
	}
	info.UID = int(st.Uid)
	info.Mode = os.FileMode(st.Mode & 0o777)
	info.ModTime = time.Unix(st.Mtim.Unix())
	return data, info, nil
}

// includeReadable says why an include file read with info may not be
// used at all; "" when it may. Everyone must be able to read it (as
// fastforward asks), through directories everyone may search, so that
// root copies into the world-readable table nothing an ordinary user
// could not read; and no one but its owner may change it.
func includeReadable(path string, info IncludeInfo) string {
	for _, d := range info.Dirs {
		if d.Mode&0o001 == 0 {
			return fmt.Sprintf(":include: %s: directory %s has mode %04o: not searchable by everyone", path, d.Path, d.Mode.Perm())
		}
	}
	if perm := info.Mode.Perm(); perm&0o022 != 0 {
		return fmt.Sprintf(":include: %s has mode %04o: others than its owner may change it", path, perm)
	} else if perm&0o004 == 0 {
		return fmt.Sprintf(":include: %s has mode %04o: not readable by everyone", path, perm)
	}
	return ""
}

// includeTrusted says why an include file read with info may not hold
// programs or files; "" when it may. Its lines run as the alias account,
// so only root may change them: root must own the file and every
// directory on its path, and none may be writable by group or others.
func includeTrusted(path string, info IncludeInfo) string {
	const why = "holds programs or files, which would run as the alias account"
	if info.UID != 0 {
		return fmt.Sprintf(":include: %s belongs to uid %d and %s", path, info.UID, why)
	}
	for _, d := range info.Dirs {
		switch {
		case d.UID != 0:
			return fmt.Sprintf(":include: %s %s, but directory %s belongs to uid %d: only root may own its path", path, why, d.Path, d.UID)
		case d.Mode&0o022 != 0:
			return fmt.Sprintf(":include: %s %s, but directory %s has mode %04o: others than root may change it", path, why, d.Path, d.Mode)
		}
	}
	return ""
}

// runsSomething says whether targets hold a program or a file.
func runsSomething(ts []Target) bool {
	for _, t := range ts {
		if t.Kind == Program || t.Kind == File {
			return true
		}
	}
	return false
}
