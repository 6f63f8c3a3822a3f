// Package qmailqueue is the caller's side of qmail-queue's interface, for
// the programs sites put in its place (QMAILQUEUE) or in front of the
// queue (smtp.queue_filter): the message goes to the program's descriptor
// 0, the envelope ("F" sender NUL, "T" recipient NUL ..., NUL) to its
// descriptor 1, and its exit code says what became of the message, in
// qmail's words (qmail.c's qmail_close).
//
// # Guarantees
//
//   - An exit code is read before any write error: a program that refused
//     the message and exited before reading all of it is answered with its
//     own code, not "write error".
//   - A program that crashes is a temporary failure; only the codes qmail
//     calls permanent (11 to 40) are permanent.
//   - With a timeout, the program and its whole process group are killed
//     when it passes, and the answer is temporary.
package qmailqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
)

// ExitError is what a qmail-queue exit code means: nil for 0, else an
// *outcome.Error, permanent or temporary, with qmail's text.
func ExitError(code int) error {
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

// Envelope is the envelope in qmail-queue's form.
func Envelope(sender string, rcpts []string) []byte {
	var b bytes.Buffer
	b.WriteString("F" + sender + "\x00")
	for _, r := range rcpts {
		b.WriteString("T" + r + "\x00")
	}
	b.WriteByte(0)
	return b.Bytes()
}

// Program is one run of a qmail-queue program: write the message to it,
// then Commit with the envelope, or Abort.
type Program struct {
	cmd    *exec.Cmd
	msgW   *os.File
	envW   *os.File
	timer  *time.Timer
	killed chan struct{}
}

// Options are the settings of a run.
type Options struct {
	// Env is the program's environment; nil means this process's.
	Env []string
	// Stderr gets what the program writes there; nil discards it.
	Stderr io.Writer
	// Timeout kills the program (and its process group) when it runs
	// longer; zero means no limit.
	Timeout time.Duration
	// Dir is its working directory; empty means this process's.
	Dir string
}

// Start runs argv (a path and its arguments) with a pipe on each of
// descriptors 0 and 1.
func Start(argv []string, o Options) (*Program, error) {
	if len(argv) == 0 {
		return nil, errors.New("no qmail-queue program given")
	}
	msgR, msgW, err := os.Pipe()
	if err != nil {
		return nil, outcome.TemporaryErr(err, "unable to exec qq (#4.3.0)")
	}
	envR, envW, err := os.Pipe()
	if err != nil {
		msgR.Close()
		msgW.Close()
		return nil, outcome.TemporaryErr(err, "unable to exec qq (#4.3.0)")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = o.Env, o.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = msgR, envR, o.Stderr
	if o.Timeout > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	err = cmd.Start()
	msgR.Close()
	envR.Close()
	if err != nil {
		msgW.Close()
		envW.Close()
		return nil, outcome.TemporaryErr(err, "unable to exec qq (#4.3.0)")
	}
	p := &Program{cmd: cmd, msgW: msgW, envW: envW, killed: make(chan struct{})}
	if o.Timeout > 0 {
		pid := cmd.Process.Pid
		p.timer = time.AfterFunc(o.Timeout, func() {
			close(p.killed)
			syscall.Kill(-pid, syscall.SIGKILL)
			// Whoever is writing to it must not wait for ever.
			msgW.Close()
			envW.Close()
		})
	}
	return p, nil
}

// Write writes message bytes to the program.
func (p *Program) Write(b []byte) (int, error) { return p.msgW.Write(b) }

// Commit ends the message, writes the envelope and returns what the
// program's exit code means. A write error is reported only when the
// program exited 0, as qmail_close does.
func (p *Program) Commit(sender string, rcpts []string) error {
	p.msgW.Close()
	_, werr := p.envW.Write(Envelope(sender, rcpts))
	p.envW.Close()
	err := p.wait()
	if err == nil && werr != nil {
		return outcome.TemporaryErr(werr, "qq write error or disk full (#4.3.0)")
	}
	return err
}

// Abort ends the run without an envelope: qmail-queue then queues
// nothing.
func (p *Program) Abort() {
	p.msgW.Close()
	p.envW.Close()
	p.wait()
}

func (p *Program) wait() error {
	err := p.cmd.Wait()
	if p.timer != nil {
		p.timer.Stop()
		select {
		case <-p.killed:
			return outcome.Temporary("qq timeout (#4.3.0)")
		default:
		}
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.Exited():
		return ExitError(exit.ExitCode())
	}
	return outcome.TemporaryErr(err, "qq crashed (#4.3.0)")
}

// Run gives msg and the envelope to argv and returns what its exit code
// means.
func Run(ctx context.Context, argv []string, o Options, msg io.Reader, sender string, rcpts []string) error {
	p, err := Start(argv, o)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); p.cmd.Process.Kill() })
	defer stop()
	w := &stickyWriter{w: p.msgW}
	if _, err := io.Copy(w, msg); err != nil {
		p.Abort()
		return outcome.TemporaryErr(err, "unable to read the message: %v", err)
	}
	err = p.Commit(sender, rcpts)
	if err == nil && w.err != nil {
		return outcome.TemporaryErr(w.err, "qq write error or disk full (#4.3.0)")
	}
	return err
}

// stickyWriter keeps the first write error and takes nothing after it,
// so that a copy into it stops only for a read error.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(b []byte) (int, error) {
	if s.err == nil {
		if _, err := s.w.Write(b); err != nil {
			s.err = err
		}
	}
	return len(b), nil
}

// StickyWriter returns a writer over w that keeps w's first error (see
// Err) and swallows everything after it, so that a copy into it stops
// only for a read error.
func StickyWriter(w io.Writer) interface {
	io.Writer
	Err() error
} {
	return &stickyWriter{w: w}
}

// Err is the first write error.
func (s *stickyWriter) Err() error { return s.err }

// String names the program, for logs.
func (p *Program) String() string { return fmt.Sprint(p.cmd.Args) }
