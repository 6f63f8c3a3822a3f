package migrate

// Opening qmail's queue files.
//
// The import runs as root, and qmail's accounts (qmailq owns queue/,
// mess/, todo/ and intd/; qmails owns info/, local/, remote/, bounce/)
// can write the directories it reads. So nothing below the queue
// directory is opened through a symbolic link: each directory is opened
// O_DIRECTORY|O_NOFOLLOW relative to its parent's descriptor, and each
// file O_NOFOLLOW|O_NONBLOCK relative to its directory's, after fstatat
// (without following) said it is a regular file, so that a FIFO never
// blocks the scan and a device is never opened. The file's type, link
// count and size come from the descriptor: a queue file is a regular file
// with one link (a hard link could name any file on the file system).
// The queue directory itself (QMAILHOME/queue, or what it points at) is
// root's to choose and is followed.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// openQueueDir opens rel (slash-separated, "" for dir itself) below dir
// without following a symbolic link below dir.
func openQueueDir(dir, rel string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	if rel == "" {
		return fd, nil
	}
	path := dir
	for _, name := range strings.Split(rel, "/") {
		path = filepath.Join(path, name)
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: linkErr(err)}
		}
		fd = next
	}
	return fd, nil
}

// linkErr says what ELOOP means under O_NOFOLLOW.
func linkErr(err error) error {
	if errors.Is(err, unix.ELOOP) {
		return errSymlink
	}
	return err
}

var errSymlink = errors.New("a symbolic link; qmail's queue holds none, so it is not followed")

// readQueueDir lists rel below dir, without following links.
func readQueueDir(dir, rel string) ([]os.DirEntry, error) {
	fd, err := openQueueDir(dir, rel)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, rel))
	defer f.Close()
	return f.ReadDir(-1)
}

// openQueueFile opens the file rel below dir for reading, as the package
// comment says, and returns it with its status, from the descriptor.
func openQueueFile(dir, rel string) (*os.File, *unix.Stat_t, error) {
	path := filepath.Join(dir, rel)
	pdir, name := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		pdir, name = rel[:i], rel[i+1:]
	}
	dfd, err := openQueueDir(dir, pdir)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(dfd)
	var pre unix.Stat_t
	if err := unix.Fstatat(dfd, name, &pre, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := regularOne(&pre); err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: linkErr(err)}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := regularOne(&st); err != nil {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if st.Dev != pre.Dev || st.Ino != pre.Ino {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("replaced while it was opened")}
	}
	// A regular file: reads never block, and the descriptor may go to a
	// child that expects an ordinary one.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), &st, nil
}

// regularOne refuses anything but a regular file with one link.
func regularOne(st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return errSymlink
	case unix.S_IFDIR:
		return errors.New("is a directory, not a regular file")
	case unix.S_IFIFO:
		return errors.New("a FIFO, not a regular file")
	case unix.S_IFCHR, unix.S_IFBLK:
		return errors.New("a device, not a regular file")
	default:
		return errors.New("not a regular file")
	}
	if st.Nlink != 1 {
		return fmt.Errorf("has %d hard links; a queue file has one, so it may name a file outside the queue", st.Nlink)
	}
	return nil
}

// readQueueFile reads the file rel below dir, opened by openQueueFile.
func readQueueFile(dir, rel string) ([]byte, *unix.Stat_t, error) {
	f, st, err := openQueueFile(dir, rel)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, st.Size+1))
	if err != nil {
		return nil, nil, err
	}
	return data, st, nil
}

// rel returns path relative to the queue directory, slash-separated.
func (s *QueueScan) rel(path string) string {
	r, err := filepath.Rel(s.Dir, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

// OpenMess opens m's mess file for reading as ScanQueue opened it: no
// symbolic link, a regular file with one link. A file whose size is no
// longer m.Size is refused.
func (s *QueueScan) OpenMess(m *QueueMessage) (*os.File, error) {
	f, st, err := openQueueFile(s.Dir, s.rel(m.Mess))
	if err != nil {
		return nil, err
	}
	if st.Size != m.Size {
		f.Close()
		return nil, fmt.Errorf("changed since the scan (%d bytes, now %d)", m.Size, st.Size)
	}
	return f, nil
}

// why is the reason the entry at path is listed for: the error, without
// the path when it is the entry's own, which the listing gives.
func why(err error, path string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return pe.Err.Error()
	}
	return err.Error()
}
