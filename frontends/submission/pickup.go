package submission

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// # The pickup directory
//
// When the daemon cannot be reached, a submitter writes its message into
// the root's pickup/ directory, which the daemon imports at start and
// while it runs. The directory belongs to the daemon's account, mode 1733:
// anyone may create a file, nobody else may list it, remove another's
// file or guess its random name.
//
// A file is the message, then qmail-queue's envelope ("F" sender NUL, "T"
// recipient NUL each, NUL), then the message's and the envelope's lengths
// (8 bytes each, big-endian) and PickupMagic. The writer creates it as
// new.<random>, which the importer leaves alone (for an hour), takes an
// exclusive flock on it and makes it mode 644, renames it tmp.<random>,
// writes it, fsyncs it and renames it msg.<random>. So a file is complete exactly when its
// trailer is there and its lengths add up, whatever its name: the
// importer takes any complete file nobody holds locked (a rename lost in a
// crash leaves a complete tmp. file), removes an incomplete one nobody
// holds (its writer died), and leaves alone any file that is locked.
//
// The submitter's uid is the file's owner, never anything in it.

// PickupNewPrefix starts the name of a file its writer has made but not
// yet locked.
const PickupNewPrefix = "new."

// The pickup file's trailer: PickupMagic after the two lengths.
const (
	PickupMagic   = "GQPICKUP1"
	PickupTrailer = 8 + 8 + len(PickupMagic)
)

// PickupWriter writes one message into a pickup directory.
type PickupWriter struct {
	dir  string
	name string // the file's path now
	f    *os.File
	w    *bufio.Writer
	size int64
	err  error
}

// NewPickup starts a message in dir.
func NewPickup(dir string) (*PickupWriter, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(rnd[:])
	// Readable by the daemon's account: the directory cannot be listed,
	// and the name cannot be guessed.
	f, err := os.OpenFile(filepath.Join(dir, PickupNewPrefix+id), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pickup directory %s: %w", dir, err)
	}
	p := &PickupWriter{dir: dir, name: f.Name(), f: f, w: bufio.NewWriterSize(f, 64<<10)}
	// Locked and readable before the importer may look at it.
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	if err == nil {
		err = f.Chmod(0o644) // whatever the umask made of it
	}
	if err == nil {
		tmp := filepath.Join(dir, "tmp."+id)
		if err = os.Rename(p.name, tmp); err == nil {
			p.name = tmp
		}
	}
	if err != nil {
		p.Abort()
		return nil, fmt.Errorf("pickup file %s: %w", p.name, err)
	}
	return p, nil
}

// Write adds message bytes.
func (p *PickupWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.size += int64(n)
	if err != nil {
		p.err = fmt.Errorf("writing %s: %w", p.name, err)
	}
	return n, p.err
}

// Commit writes the envelope and the trailer, fsyncs the file and gives it
// its final name. Only then is the message safe; the daemon takes it when
// it can.
func (p *PickupWriter) Commit(sender string, rcpts []string) error {
	if p.err != nil {
		p.Abort()
		return p.err
	}
	var env bytes.Buffer
	env.WriteString("F" + sender + "\x00")
	for _, r := range rcpts {
		env.WriteString("T" + r + "\x00")
	}
	env.WriteByte(0)
	p.w.Write(env.Bytes())
	var tr [16]byte
	binary.BigEndian.PutUint64(tr[:8], uint64(p.size))
	binary.BigEndian.PutUint64(tr[8:], uint64(env.Len()))
	p.w.Write(tr[:])
	p.w.WriteString(PickupMagic)
	err := p.w.Flush()
	if err == nil {
		err = p.f.Sync()
	}
	if err == nil {
		err = os.Rename(p.name, filepath.Join(p.dir, "msg."+strings.TrimPrefix(filepath.Base(p.name), "tmp.")))
	}
	if err != nil {
		p.Abort()
		return fmt.Errorf("pickup file %s: %w", p.name, err)
	}
	return p.f.Close() // and with it the lock
}

// Name is the file's name while it is being written.
func (p *PickupWriter) Name() string { return p.name }

// Abort removes the file.
func (p *PickupWriter) Abort() {
	os.Remove(p.name)
	p.f.Close()
}
