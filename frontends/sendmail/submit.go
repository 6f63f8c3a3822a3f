package sendmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// outgoing is one message on its way to the queue: through the daemon
// or its pickup directory (frontends/submission), or through a
// qmail-queue program. A nil error from commit means the message is on
// disk (or the program took it).
type outgoing struct {
	io.Writer
	commit func(sender string, rcpts []string) (id store.MsgID, pickedUp bool, err error)
	abort  func()
}

// openQueue starts a message: to $QMAILQUEUE's program when it is set, as
// netqmail's qmail_open does, else to the daemon of env's root.
func openQueue(env *Env) (*outgoing, error) {
	if prog := env.Getenv("QMAILQUEUE"); prog != "" {
		return beginProgram(prog)
	}
	return begin(context.Background(), env.paths())
}

// send writes parts and commits the message. After a write error the
// queue still says why it stopped taking the message (a qmail-queue
// program that refused it and exited, say), as qmail's qmail_close reads
// the exit code first; a queue that says nothing did not take it. A read
// error throws the message away.
func (o *outgoing) send(sender string, rcpts []string, parts ...io.Reader) (store.MsgID, bool, error) {
	w := &stickyWriter{w: o}
	for _, part := range parts {
		if _, err := io.Copy(w, part); err != nil && w.err == nil {
			o.abort()
			return 0, false, temporary("unable to read the message: " + err.Error())
		}
	}
	id, pickedUp, err := o.commit(sender, rcpts)
	if err == nil && w.err != nil {
		return 0, false, temporary("qq write error or disk full (#4.3.0)")
	}
	return id, pickedUp, err
}

// begin starts a message for the daemon of root p.
func begin(ctx context.Context, p layout.Paths) (*outgoing, error) {
	m, err := submission.Open(ctx, p.Socket, p.Pickup, submission.KindLocal)
	if err != nil {
		return nil, err
	}
	return &outgoing{
		Writer: m,
		commit: func(sender string, rcpts []string) (store.MsgID, bool, error) {
			id, err := m.Commit(ctx, &store.NewMessage{Sender: sender, Recipients: rcpts, Origin: store.Origin{Kind: "local"}})
			return id, m.PickedUp(), err
		},
		abort: m.Abort,
	}, nil
}

// beginProgram starts a submission to a qmail-queue program (QMAILQUEUE,
// as netqmail honours it): the message goes to its descriptor 0, the
// envelope to its descriptor 1, and its exit code says what became of it.
func beginProgram(prog string) (*outgoing, error) {
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
	return &outgoing{
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

// stickyWriter keeps the first write error and takes nothing after it.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return len(p), nil // swallowed: the queue's answer says why
	}
	if _, err := s.w.Write(p); err != nil {
		s.err = err
	}
	return len(p), nil
}
