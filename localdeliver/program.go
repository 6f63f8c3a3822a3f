package localdeliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/outcome"
)

// maxReport bounds a delivery report, as qmail-lspawn does.
const maxReport = 3000

const reportTooLong = "\nError report too long, sorry.\n"

// report collects what programs print and what the delivery says, up to
// maxReport bytes.
type report struct {
	b    []byte
	over bool
}

func (r *report) Write(p []byte) (int, error) {
	room := maxReport - len(r.b)
	if len(p) > room {
		r.b = append(r.b, p[:max(room, 0)]...)
		r.over = true
	} else {
		r.b = append(r.b, p...)
	}
	return len(p), nil
}

func (r *report) String() string {
	if !r.over {
		return string(r.b)
	}
	keep := maxReport - 31 - 3
	return string(r.b[:min(keep, len(r.b))]) + reportTooLong
}

// programExit classifies a program's exit code as qmail-local does.
type programExit int

const (
	programOK programExit = iota
	programStop
	programPermanent
	programTemporary
)

func classifyExit(code int) programExit {
	switch code {
	case 0:
		return programOK
	case 99:
		return programStop
	case 64, 65, 70, 76, 77, 78, 100, 112:
		return programPermanent
	}
	return programTemporary
}

// programLimits bound a program's run. qmail has none; a user's
// program that never ends would hold a place of concurrencylocal for ever.
type programLimits struct {
	// timeout ends the program's whole process group; zero means
	// DefaultProgramTimeout.
	timeout time.Duration
	// waitDelay is how long the output is still read after the program
	// exited, when something it started holds the pipe; zero means 5 s.
	waitDelay time.Duration
}

// DefaultProgramTimeout is Postfix's command_time_limit.
const DefaultProgramTimeout = 1000 * time.Second

// runProgram runs "/bin/sh -c command" in the home directory with the
// message on a seekable, read-only stdin (as qmail hands programs the
// message file) and its output going into out. It returns how the exit
// status counts; an error is a failure to run it at all. The program runs
// in a process group of its own, which is killed when it runs longer than
// lim.timeout: a temporary failure.
func runProgram(command, home string, msg *message, env []string, out *report, lim programLimits) (programExit, int, error) {
	stdin, done, err := msg.stdin()
	if err != nil {
		return programTemporary, 0, outcome.TemporaryErr(err, "Unable to make a file for the message: %v. (#4.3.0)", err)
	}
	if done {
		defer stdin.Close()
	}
	timeout := lim.timeout
	if timeout <= 0 {
		timeout = DefaultProgramTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir = home
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = lim.waitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return programTemporary, -1, outcome.Temporary("Timeout: the program ran for more than %v and was killed. (#4.3.0)", timeout)
	case err == nil || errors.Is(err, exec.ErrWaitDelay):
		// ErrWaitDelay: it exited with 0, and something it left
		// running still holds its output.
		return programOK, 0, nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return programTemporary, -1, outcome.Temporary("Aack, child crashed. (#4.3.0)")
		}
		code := exit.ExitCode()
		return classifyExit(code), code, nil
	default:
		return programTemporary, 0, outcome.TemporaryErr(err, "Unable to run /bin/sh: %s. (#4.3.0)", outcome.SystemText(err))
	}
}

// memFile returns a seekable, read-only file holding msg, positioned at its
// start. The program gets a descriptor opened for reading only, so it
// cannot change the copy it was given.
func memFile(msg io.Reader) (*os.File, error) {
	fd, err := unix.MemfdCreate("message", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	rw := os.NewFile(uintptr(fd), "message")
	defer rw.Close()
	if _, err := io.Copy(rw, msg); err != nil {
		return nil, err
	}
	return os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY, 0)
}
