package sendmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/gqmail/gqmail/frontends/inject"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// submission is one message on its way to the queue: through the
// daemon's socket, or, when the daemon cannot be reached or has no room
// for another submission now, into the pickup directory, which the daemon
// imports when it runs. Either way a nil
// error from commit means the message is on disk.
type submission struct {
	io.Writer
	commit func(sender string, rcpts []string) (id store.MsgID, pickedUp bool, err error)
	abort  func()
}

// begin starts a submission under root.
func begin(ctx context.Context, p layout.Paths) (*submission, error) {
	c := &inject.Client{Path: p.Socket}
	s, err := c.Begin(ctx)
	if err == nil {
		return &submission{
			Writer: s,
			commit: func(sender string, rcpts []string) (store.MsgID, bool, error) {
				defer c.Close()
				id, err := s.Commit(ctx, &store.NewMessage{Sender: sender, Recipients: rcpts, Origin: store.Origin{Kind: "local"}})
				return id, false, err
			},
			abort: func() { s.Abort(); c.Close() },
		}, nil
	}
	if !daemonDown(err) && !errors.Is(err, inject.ErrBusy) {
		return nil, err
	}
	w, perr := inject.NewPickup(p.Pickup)
	if perr != nil {
		return nil, outcome.TemporaryErr(perr, "The gqmail daemon is not running, and the pickup directory cannot take the message: %v. (#4.3.0)", perr)
	}
	return &submission{
		Writer: w,
		commit: func(sender string, rcpts []string) (store.MsgID, bool, error) {
			if err := w.Commit(sender, rcpts); err != nil {
				return 0, true, outcome.TemporaryErr(err, "Unable to write the message into the pickup directory: %v. (#4.3.0)", err)
			}
			return 0, true, nil
		},
		abort: w.Abort,
	}, nil
}

// daemonDown reports whether err says nobody listens on the socket (as
// opposed to a daemon that answered): then the pickup directory takes the
// message.
func daemonDown(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// beginProgram starts a submission to a qmail-queue program (QMAILQUEUE,
// as netqmail honours it): the message goes to its descriptor 0, the
// envelope to its descriptor 1, and its exit code says what became of it.
func beginProgram(prog string) (*submission, error) {
	msgR, msgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	envR, envW, err := os.Pipe()
	if err != nil {
		msgR.Close()
		msgW.Close()
		return nil, err
	}
	cmd := exec.Command(prog)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = msgR, envR, os.Stderr
	if err := cmd.Start(); err != nil {
		msgR.Close()
		msgW.Close()
		envR.Close()
		envW.Close()
		return nil, outcome.TemporaryErr(err, "unable to exec qq (#4.3.0)")
	}
	msgR.Close()
	envR.Close()
	finish := func() error {
		err := cmd.Wait()
		code := 0
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit) && exit.Exited():
			code = exit.ExitCode()
		default:
			return outcome.Temporary("qq crashed (#4.3.0)")
		}
		return queueExitError(code)
	}
	return &submission{
		Writer: msgW,
		commit: func(sender string, rcpts []string) (store.MsgID, bool, error) {
			msgW.Close()
			var env bytes.Buffer
			env.WriteString("F" + sender + "\x00")
			for _, r := range rcpts {
				env.WriteString("T" + r + "\x00")
			}
			env.WriteByte(0)
			envW.Write(env.Bytes())
			envW.Close()
			return 0, false, finish()
		},
		abort: func() {
			// An envelope that ends early makes qmail-queue give up.
			msgW.Close()
			envW.Close()
			cmd.Wait()
		},
	}, nil
}

// queueExitError is what a qmail-queue exit code means, in qmail's words
// (qmail.c): nil for 0, else a permanent or temporary failure.
func queueExitError(code int) error {
	switch {
	case code == 0:
		return nil
	case code == 11 || code == 115:
		return outcome.Permanent("envelope address too long for qq (#5.1.3)")
	case code == 31:
		return outcome.Permanent("mail server permanently rejected message (#5.3.0)")
	case code >= 11 && code <= 40:
		return outcome.Permanent("qq permanent problem (#5.3.0)")
	}
	text := map[int]string{
		51: "qq out of memory (#4.3.0)",
		52: "qq timeout (#4.3.0)",
		53: "qq write error or disk full (#4.3.0)",
		54: "qq read error (#4.3.0)",
		55: "qq unable to read configuration (#4.3.0)",
		56: "qq trouble making network connection (#4.3.0)",
		61: "qq trouble in home directory (#4.3.0)",
		71: "mail server temporarily rejected message (#4.3.0)",
		72: "connection to mail server timed out (#4.4.1)",
		73: "connection to mail server rejected (#4.4.1)",
		74: "communication with mail server failed (#4.4.2)",
		81: "qq internal bug (#4.3.0)",
		91: "qq internal bug (#4.3.0)",
	}[code]
	if code >= 62 && code <= 66 {
		text = "qq trouble creating files in queue (#4.3.0)"
	}
	if text == "" {
		text = "qq temporary problem (#4.3.0)"
	}
	return outcome.Temporary("%s", text)
}
