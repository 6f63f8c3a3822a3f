package inject

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/store"
)

// Pickup imports the files of a pickup directory into the queue.
//
// It runs as the directory's owner (the daemon's account), so the sticky
// bit lets it remove or rename any entry, and it reads nothing by a name
// it has not first opened without following links. What is not a message
// file of its owner's making is removed (or, for a directory, renamed out
// of the scan) and logged once, unread; a message file that cannot be
// taken goes to bad/, a directory only the daemon can enter.
type Pickup struct {
	Dir   string
	Queue Queue
	Log   *qlog.Logger
	// MaxMessageBytes bounds a message; a larger one is moved aside.
	MaxMessageBytes int64
	// TrustedUIDs are qmaild smtpd's: their files may hold SMTPHeadroom
	// more, for smtpd's Received line, as on the socket.
	TrustedUIDs []int
	// Bounce queues a notice to a submitter whose file could not be
	// taken: to the envelope sender, or to the owner's account.
	Bounce func(uid int, sender, why string)
	// Now is the clock of the trace line; time.Now when nil.
	Now func() time.Time
}

// scanBatch is how many names Scan reads from the directory at a time, so
// that a directory flooded with files costs a bounded amount of memory.
const scanBatch = 1000

// staleNew is how long a writer may hold a "new." file before it has
// locked it and named it "tmp.": older ones were left by a writer that
// died in between.
const staleNew = time.Hour

// Scan imports every complete file nobody is writing, and returns how
// many it queued.
func (p *Pickup) Scan(ctx context.Context) (int, error) {
	dir, err := os.Open(p.Dir)
	if err != nil {
		return 0, fmt.Errorf("pickup directory %s: %w", p.Dir, err)
	}
	defer dir.Close()
	n := 0
	for {
		entries, err := dir.ReadDir(scanBatch)
		for _, e := range entries {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			name := e.Name()
			switch {
			case strings.HasPrefix(name, "msg."), strings.HasPrefix(name, "tmp."):
				ok, err := p.take(ctx, name)
				if err != nil {
					p.Log.Warning("pickup: %v", err)
				}
				if ok {
					n++
				}
			case strings.HasPrefix(name, submission.PickupNewPrefix):
				if fi, err := os.Lstat(filepath.Join(p.Dir, name)); err == nil && time.Since(fi.ModTime()) > staleNew {
					p.drop(name, "a file its writer never finished")
				}
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(entries) == 0) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("pickup directory %s: %w", p.Dir, err)
		}
	}
}

// Run scans the directory every interval until ctx ends.
func (p *Pickup) Run(ctx context.Context, interval time.Duration) {
	if d, err := p.badDir(); err != nil {
		p.Log.Warning("pickup: %v", err)
	} else {
		d.Close()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := p.Scan(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warning("%v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// take imports the file name. It reports whether it queued a message.
func (p *Pickup) take(ctx context.Context, name string) (bool, error) {
	path := filepath.Join(p.Dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // renamed or removed meanwhile
		}
		// A symbolic link, a socket, a file its owner made unreadable:
		// no writer of ours leaves such a thing.
		p.drop(name, fmt.Sprintf("not a message file the daemon may read (%v)", errors.Unwrap(err)))
		return false, nil
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, fmt.Errorf("%s: %w", qlog.Safe(name), err)
	}
	uid := int(st.Uid)
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		p.drop(name, "not a plain file")
		return false, nil
	case st.Nlink != 1:
		// A hard link: its owner need not be who made it, so the
		// owner is neither credited nor told.
		p.drop(name, fmt.Sprintf("a file with %d links", st.Nlink))
		return false, nil
	case st.Mode&0o022 != 0:
		// Writable by others: whoever wrote it need not be its owner.
		p.drop(name, fmt.Sprintf("a file others may write (mode %o)", st.Mode&0o777))
		return false, nil
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, nil // its writer is still at work
	}
	msgLen, envLen, complete := readTrailer(f, st.Size)
	if !complete {
		if strings.HasPrefix(name, "tmp.") {
			// Its writer died before it finished: nothing was promised.
			os.Remove(path)
			return false, nil
		}
		p.setAside(name, uid, "", "it is incomplete")
		return false, nil
	}
	if envLen > maxPickupEnvelope {
		p.setAside(name, uid, "", fmt.Sprintf("its envelope is %d bytes, more than the limit of %d", envLen, maxPickupEnvelope))
		return false, nil
	}
	sender, rcpts, err := readEnvelopeBytes(io.NewSectionReader(f, msgLen, envLen))
	if err != nil {
		p.setAside(name, uid, "", "its envelope is malformed: "+err.Error())
		return false, nil
	}
	limit := p.MaxMessageBytes
	if slices.Contains(p.TrustedUIDs, uid) {
		limit += SMTPHeadroom
	}
	if msgLen > limit {
		p.setAside(name, uid, sender, fmt.Sprintf("it is %d bytes, more than the limit of %d", msgLen, limit))
		return false, nil
	}
	if len(rcpts) == 0 {
		p.setAside(name, uid, sender, "it has no recipients")
		return false, nil
	}
	sp := p.Queue.NewSpool()
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	fmt.Fprintf(sp, "Received: (qmail pickup invoked by uid %d); %s\n", uid, date822.Format(now))
	if _, err := io.Copy(sp, io.NewSectionReader(f, 0, msgLen)); err != nil {
		sp.Discard()
		return false, fmt.Errorf("%s: %w", qlog.Safe(name), err)
	}
	size := sp.Size()
	msg := &store.NewMessage{Sender: sender, Recipients: rcpts, Origin: store.Origin{Kind: "local", UID: uid}, Spool: sp}
	id, err := p.Queue.Accept(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("%s: queueing: %w; it stays for the next scan", qlog.Safe(name), err)
	}
	// Only after the commit.
	os.Remove(path)
	p.Log.Queued(uint64(id), size, sender, uid)
	return true, nil
}

// maxPickupEnvelope bounds the envelope of a pickup file, which is read
// into memory: the recipients a socket submission may send, and a sender.
const maxPickupEnvelope = submission.MaxRecipientBytes + 1024

// drop gets rid of an entry that is no message file at all (a symbolic
// link, a FIFO, a hard link to some file), without reading it or telling
// anyone but the log: whoever owns what it points at need not be who put
// it there. What cannot be removed (a directory with something in it) is
// renamed out of the scan. Either way the name is logged once.
func (p *Pickup) drop(name, what string) {
	path := filepath.Join(p.Dir, name)
	err := os.Remove(path)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		p.Log.Warning("pickup: %s was %s; removed, unread", qlog.Safe(name), what)
		return
	}
	junk := "junk." + randomName()
	if rerr := os.Rename(path, filepath.Join(p.Dir, junk)); rerr != nil {
		p.Log.Warning("pickup: %s is %s and can be neither removed (%v) nor renamed (%v)", qlog.Safe(name), what, err, rerr)
		return
	}
	p.Log.Warning("pickup: %s was %s; renamed %s, out of the scan, unread", qlog.Safe(name), what, junk)
}

// randomName is 16 random bytes in hex.
func randomName() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readTrailer reads a pickup file's trailer: the message's and the
// envelope's lengths, and whether they describe this file.
func readTrailer(f *os.File, size int64) (msgLen, envLen int64, ok bool) {
	if size < int64(submission.PickupTrailer) {
		return 0, 0, false
	}
	var tr [submission.PickupTrailer]byte
	if _, err := f.ReadAt(tr[:], size-int64(submission.PickupTrailer)); err != nil {
		return 0, 0, false
	}
	if string(tr[16:]) != submission.PickupMagic {
		return 0, 0, false
	}
	msgLen = int64(binary.BigEndian.Uint64(tr[:8]))
	envLen = int64(binary.BigEndian.Uint64(tr[8:16]))
	if msgLen < 0 || envLen < 2 || msgLen+envLen+int64(submission.PickupTrailer) != size {
		return 0, 0, false
	}
	return msgLen, envLen, true
}

// readEnvelopeBytes reads a pickup file's envelope: "F" sender NUL, "T"
// recipient NUL each, NUL, and nothing after. It holds the recipients to
// the socket's bounds.
func readEnvelopeBytes(r io.Reader) (string, []string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", nil, err
	}
	if len(b) < 2 || b[0] != 'F' || b[len(b)-1] != 0 || b[len(b)-2] != 0 {
		return "", nil, errors.New("not F...NUL...NUL")
	}
	body := string(b[:len(b)-2])
	sender, rest, _ := strings.Cut(body[1:], "\x00")
	if !submission.GoodAddress(sender) {
		return "", nil, errors.New("the sender has a CR, LF or NUL, or is 900 bytes or longer")
	}
	if len(rest) == 0 && !strings.Contains(body, "\x00") {
		return sender, nil, nil
	}
	if n := strings.Count(rest, "\x00") + 1; n > submission.MaxRecipients {
		return "", nil, fmt.Errorf("%d recipients, more than %d", n, submission.MaxRecipients)
	}
	var rcpts []string
	for r := range strings.SplitSeq(rest, "\x00") {
		if !strings.HasPrefix(r, "T") {
			return "", nil, fmt.Errorf("field %.40q is not a recipient", r)
		}
		if a := r[1:]; a == "" || !submission.GoodAddress(a) {
			return "", nil, fmt.Errorf("recipient %.40q is empty, has a CR or LF, or is 900 bytes or longer", a)
		}
		rcpts = append(rcpts, r[1:])
	}
	return sender, rcpts, nil
}

// setAside moves a file that cannot be taken into bad/, says so in the
// log, and tells its submitter.
func (p *Pickup) setAside(name string, uid int, sender, why string) {
	if len(why) > 200 {
		why = why[:200] + "..."
	}
	bad, err := p.badDir()
	if err == nil {
		err = unix.Renameat(unix.AT_FDCWD, filepath.Join(p.Dir, name), int(bad.Fd()), name)
		bad.Close()
	}
	if err != nil {
		// Left where it is, and logged at every scan until an
		// administrator looks: the directory or disk is broken.
		p.Log.Warning("pickup: %s from uid %d cannot be taken (%s), and cannot be moved aside: %v", qlog.Safe(name), uid, qlog.Safe(why), err)
		return
	}
	p.Log.Warning("pickup: %s from uid %d cannot be taken: %s; moved to %s", qlog.Safe(name), uid, qlog.Safe(why), filepath.Join(p.Dir, "bad", qlog.Safe(name)))
	if p.Bounce != nil {
		p.Bounce(uid, sender, why)
	}
}

// badDir opens bad/, making it, and first renaming out of the way anything
// of that name that is not a directory of this process's uid that only it
// may enter: another user could have made pickup/bad before the daemon
// did, to read what is set aside there.
func (p *Pickup) badDir() (*os.File, error) {
	path := filepath.Join(p.Dir, "bad")
	for range 3 {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdir(path, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("making %s: %w", path, err)
			}
			continue
		}
		if err == nil {
			var st unix.Stat_t
			if err = unix.Fstat(fd, &st); err == nil && int(st.Uid) == os.Geteuid() && st.Mode&0o077 == 0 {
				return os.NewFile(uintptr(fd), path), nil
			}
			unix.Close(fd)
		}
		junk := "junk." + randomName()
		if rerr := os.Rename(path, filepath.Join(p.Dir, junk)); rerr != nil {
			return nil, fmt.Errorf("%s is not the daemon's own directory, and cannot be renamed: %v", path, rerr)
		}
		p.Log.Warning("pickup: %s was not the daemon's own directory (made by another user?); renamed %s", path, junk)
	}
	return nil, fmt.Errorf("%s: no directory of the daemon's own after three tries", path)
}

// Notice is the message that tells a submitter why their pickup file was
// not taken: to the envelope sender, or, without one, to the account that
// owns the file (a local address, routed with envnoathost). It has the
// null sender, as a bounce does.
func Notice(uid int, sender, why, host string, now time.Time) *store.NewMessage {
	to := sender
	if to == "" {
		to = "#" + fmt.Sprint(uid)
		if u, err := lookupUser(uid); err == nil {
			to = u
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Date: %s\n", date822.Format(now))
	fmt.Fprintf(&b, "From: MAILER-DAEMON@%s\n", host)
	fmt.Fprintf(&b, "To: %s\n", oneLine(to))
	b.WriteString("Subject: failure notice\n\n")
	fmt.Fprintf(&b, "Hi. This is gqmail at %s.\n", host)
	b.WriteString("A message you left in the pickup directory while the mail daemon was down\n")
	fmt.Fprintf(&b, "could not be queued: %s.\nIt was set aside and will not be sent.\n", oneLine(why))
	return &store.NewMessage{
		Sender:     "",
		Recipients: []string{to},
		Origin:     store.Origin{Kind: "bounce", UID: -1},
		Body:       []byte(b.String()),
	}
}

// oneLine keeps text on its line in a header.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return '_'
		}
		return r
	}, s)
}
