package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
)

// DefaultLockTimeout is how long Append waits for the mbox lock when
// Mbox.LockTimeout is zero: qmail-local's 30-second alarm.
const DefaultLockTimeout = 30 * time.Second

// Mbox appends messages to mbox files. The zero value is ready to use and
// behaves like qmail-local. An Mbox holds no state between calls and may be
// used from several goroutines at once.
type Mbox struct {
	// LockTimeout is how long to wait for another writer's flock before
	// giving up; zero means DefaultLockTimeout. The failure text says
	// "30 seconds" whatever the value, because that is qmail's text.
	LockTimeout time.Duration
	// FS is the file system to write to; nil means OS.
	FS FS
}

// Append appends msg (the stored message, LF line ends) to the mbox file at
// path (relative to the working directory or absolute) in qmail's mboxrd
// form: UFLINE, RPLINE, DTLINE, the message with ">" put before every line
// that matches ^>*From , a newline if the last line lacked one, then one
// blank line.
//
// The file is opened O_WRONLY|O_APPEND|O_CREAT with mode 0600 and locked
// with an exclusive flock, waiting up to LockTimeout (a failure of flock
// other than "held by someone else" is ignored and the delivery goes on
// unlocked, as in qmail). It is fsync'd before it is closed: nil means the
// message is on disk. On a write or fsync failure the file is truncated
// back to its old length if the lock was held. If ctx is done while Append
// waits for the lock, it gives up with a temporary failure; once writing has
// begun, ctx is not consulted. Every failure is a temporary *outcome.Error.
func (m *Mbox) Append(ctx context.Context, path string, env Envelope, msg io.Reader) error {
	f, err := openMbox(orOS(m.FS), path)
	if err != nil {
		return err
	}
	locked, err := lock(ctx, f, m.lockTimeout(), path)
	if err != nil {
		f.Close()
		return err
	}
	// Under the lock, the end of the file is where our message will start.
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return writeErr(path, err)
	}
	start := st.Size()

	if err := writeMbox(f, env, msg); err != nil {
		// Without the lock another writer may have appended after
		// start; cutting the file would destroy its message.
		if locked {
			f.Truncate(start)
		}
		f.Close()
		return writeErr(path, err)
	}
	// The bytes are already on disk; a close error cannot undo that, and
	// qmail ignores it too.
	f.Close()
	return nil
}

func (m *Mbox) lockTimeout() time.Duration {
	if m.LockTimeout > 0 {
		return m.LockTimeout
	}
	return DefaultLockTimeout
}

func writeErr(path string, err error) error {
	return outcome.TemporaryErr(err, "Unable to write %s: %s. (#4.3.0)", path, outcome.SystemText(err))
}

func openErr(path string, err error) error {
	return outcome.TemporaryErr(err, "Unable to open %s: %s. (#4.2.1)", path, outcome.SystemText(err))
}

// openMbox opens path for appending without following a symbolic link in
// its last component, unless the link is trusted (linkTrusted) and the file
// it leads to, as actually opened, belongs to the current euid. A file is
// never created through a link.
func openMbox(fsys FS, path string) (File, error) {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, syscall.ELOOP) {
		return nil, openErr(path, err)
	}
	li, lerr := fsys.Lstat(path)
	if lerr != nil || li.Mode()&fs.ModeSymlink == 0 {
		return nil, openErr(path, err) // a real loop further up the path
	}
	if !linkTrusted(li) {
		return nil, symlinkRefusal(path, false, "a file")
	}
	f, err = fsys.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, openErr(path, err)
	}
	// Checked on the descriptor: the link may have changed since Lstat,
	// but what we hold now is what we would write to.
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, openErr(path, err)
	}
	if !ownedByMe(fi) {
		f.Close()
		return nil, symlinkRefusal(path, true, "a file")
	}
	return f, nil
}

// lock takes an exclusive flock on f, waiting at most timeout. It reports
// whether the lock is held; an error means the wait ran out or ctx ended.
// flock has no timeout of its own and a blocked flock cannot be
// interrupted from Go without a signal, so it polls with LOCK_NB.
func lock(ctx context.Context, f File, timeout time.Duration, path string) (bool, error) {
	fd := int(f.Fd())
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	var timer *time.Timer
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		switch err {
		case nil:
			if timer != nil {
				timer.Stop()
			}
			return true, nil
		case syscall.EINTR:
			continue
		case syscall.EWOULDBLOCK:
		default:
			return false, nil // as qmail: cannot lock, deliver unlocked
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, outcome.Temporary("File has been locked for 30 seconds straight. (#4.3.0)")
		}
		wait = min(wait*2, 100*time.Millisecond, left)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false, outcome.TemporaryErr(ctx.Err(), "Unable to lock %s: %s. (#4.3.0)", path, ctx.Err())
		}
	}
}

// writeMbox writes the whole mboxrd entry to f and fsyncs it.
func writeMbox(f File, env Envelope, msg io.Reader) error {
	t := env.Time
	if t.IsZero() {
		t = time.Now()
	}
	w := bufio.NewWriterSize(f, 64<<10)
	w.WriteString(UFLine(env.Sender, t))
	w.WriteString(RPLine(env.Sender))
	w.WriteString(DTLine(env.Recipient))
	if err := writeMboxrd(w, bufio.NewReaderSize(msg, 64<<10)); err != nil {
		return err
	}
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// writeMboxrd copies msg with ">" before every line matching ^>*From , and
// a final newline if msg does not end with one. It reads a line's leading
// ">" one byte at a time and the rest in pieces, so no line is ever held
// whole, however long. Errors of w stick in it and are reported by its
// Flush; the error returned is msg's.
func writeMboxrd(w *bufio.Writer, msg *bufio.Reader) error {
	for {
		quotes := 0
		for {
			c, err := msg.ReadByte()
			if err == io.EOF {
				if quotes > 0 {
					w.WriteString(strings.Repeat(">", quotes) + "\n")
				}
				return nil
			}
			if err != nil {
				return err
			}
			if c != '>' {
				msg.UnreadByte()
				break
			}
			quotes++
		}
		if p, _ := msg.Peek(5); string(p) == "From " {
			w.WriteByte('>')
		}
		w.WriteString(strings.Repeat(">", quotes))
		for {
			piece, err := msg.ReadSlice('\n')
			w.Write(piece)
			if err == nil {
				break
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				// The line has at least the byte that ended its
				// quotes, and no newline.
				w.WriteByte('\n')
				return nil
			}
			return err
		}
	}
}

// fromLine is qmail's gfrom: does line match ^>*From ?
func fromLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From "))
}
