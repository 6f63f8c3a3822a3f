package inject

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
type Pickup struct {
	Dir   string
	Queue Queue
	Log   *qlog.Logger
	// MaxMessageBytes bounds a message; a larger one is moved aside.
	MaxMessageBytes int64
	// Bounce queues a notice to a submitter whose file could not be
	// taken: to the envelope sender, or to the owner's account.
	Bounce func(uid int, sender, why string)
	// Now is the clock of the trace line; time.Now when nil.
	Now func() time.Time
}

// scanBatch is how many names Scan reads from the directory at a time, so
// that a directory flooded with files costs a bounded amount of memory.
const scanBatch = 1000

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
			name := e.Name()
			if !strings.HasPrefix(name, "msg.") && !strings.HasPrefix(name, "tmp.") {
				continue
			}
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			ok, err := p.take(ctx, filepath.Join(p.Dir, name))
			if err != nil {
				p.Log.Warning("pickup: %v", err)
				continue
			}
			if ok {
				n++
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

// take imports one file. It reports whether it queued a message.
func (p *Pickup) take(ctx context.Context, path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // renamed or removed meanwhile
		}
		if errors.Is(err, syscall.ELOOP) {
			p.drop(path, "a symbolic link")
			return false, nil
		}
		return false, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	uid := int(st.Uid)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		p.drop(path, "not a plain file")
		return false, nil
	}
	if st.Nlink != 1 {
		// A hard link: its owner need not be who made it, so the
		// owner is neither credited nor told.
		p.drop(path, fmt.Sprintf("a file with %d links", st.Nlink))
		return false, nil
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, nil // its writer is still at work
	}
	msgLen, envLen, complete := readTrailer(f, st.Size)
	if !complete {
		if strings.HasPrefix(filepath.Base(path), "tmp.") {
			// Its writer died before it finished: nothing was promised.
			os.Remove(path)
			return false, nil
		}
		p.setAside(path, uid, "", "it is incomplete")
		return false, nil
	}
	if envLen > maxPickupEnvelope {
		p.setAside(path, uid, "", fmt.Sprintf("its envelope is %d bytes, more than the limit of %d", envLen, maxPickupEnvelope))
		return false, nil
	}
	sender, rcpts, err := readEnvelopeBytes(io.NewSectionReader(f, msgLen, envLen))
	if err != nil {
		p.setAside(path, uid, "", "its envelope is malformed: "+err.Error())
		return false, nil
	}
	if msgLen > p.MaxMessageBytes {
		p.setAside(path, uid, sender, fmt.Sprintf("it is %d bytes, more than the limit of %d", msgLen, p.MaxMessageBytes))
		return false, nil
	}
	if len(rcpts) == 0 {
		p.setAside(path, uid, sender, "it has no recipients")
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
		return false, fmt.Errorf("%s: %w", path, err)
	}
	size := sp.Size()
	msg := &store.NewMessage{Sender: sender, Recipients: rcpts, Origin: store.Origin{Kind: "local", UID: uid}, Spool: sp}
	id, err := p.Queue.Accept(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("%s: queueing: %w; it stays for the next scan", path, err)
	}
	// Only after the commit.
	os.Remove(path)
	p.Log.Queued(uint64(id), size, sender, uid)
	return true, nil
}

// maxPickupEnvelope bounds the envelope of a pickup file, which is read
// into memory: the recipients a socket submission may send, and a sender.
const maxPickupEnvelope = submission.MaxRecipientBytes + 1024

// drop removes a name that is no message file at all (a symbolic link, a
// FIFO, a hard link to some file), without reading it or telling anyone
// but the log: whoever owns what it points at need not be who put it
// there.
func (p *Pickup) drop(path, what string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.Log.Warning("pickup: %s is %s and cannot be removed: %v", path, what, err)
		return
	}
	p.Log.Warning("pickup: %s was %s, not a message file; removed, unread", path, what)
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
// recipient NUL each, NUL, and nothing after.
func readEnvelopeBytes(r io.Reader) (string, []string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", nil, err
	}
	if len(b) < 2 || b[0] != 'F' || b[len(b)-1] != 0 || b[len(b)-2] != 0 {
		return "", nil, errors.New("not F...NUL...NUL")
	}
	parts := strings.Split(string(b[:len(b)-2]), "\x00")
	sender := parts[0][1:]
	var rcpts []string
	for _, p := range parts[1:] {
		if !strings.HasPrefix(p, "T") {
			return "", nil, fmt.Errorf("field %q is not a recipient", p)
		}
		rcpts = append(rcpts, p[1:])
	}
	if !submission.GoodAddress(sender) {
		return "", nil, errors.New("the sender has a CR, LF or NUL, or is 900 bytes or longer")
	}
	for _, r := range rcpts {
		if !submission.GoodAddress(r) {
			return "", nil, fmt.Errorf("recipient %q has a CR or LF, or is 900 bytes or longer", r)
		}
	}
	return sender, rcpts, nil
}

// setAside moves a file that cannot be taken into bad/, says so in the
// log, and tells its submitter.
func (p *Pickup) setAside(path string, uid int, sender, why string) {
	bad := filepath.Join(p.Dir, "bad")
	os.Mkdir(bad, 0o700)
	dst := filepath.Join(bad, filepath.Base(path))
	if err := os.Rename(path, dst); err != nil {
		p.Log.Warning("pickup: %s from uid %d cannot be taken (%s), and cannot be moved aside: %v", path, uid, why, err)
		return
	}
	p.Log.Warning("pickup: %s from uid %d cannot be taken: %s; moved to %s", path, uid, why, dst)
	if p.Bounce != nil {
		p.Bounce(uid, sender, why)
	}
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
