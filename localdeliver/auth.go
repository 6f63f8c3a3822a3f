package localdeliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// AuthResult is the answer of a checkpassword program.
type AuthResult uint8

const (
	// AuthRejected is checkpassword's exit 1: the login or the password
	// is wrong. It is the zero value, so that an unset result never lets
	// anyone in.
	AuthRejected AuthResult = iota
	// AuthAccepted is checkpassword's exit 0.
	AuthAccepted
)

func (r AuthResult) String() string {
	if r == AuthAccepted {
		return "accepted"
	}
	return "rejected"
}

// CheckPassword asks the helper to run checkpassword for login and
// password, from a client at remoteIP (which checkpassword sees as
// TCPREMOTEIP). It returns AuthAccepted or AuthRejected; an error is a
// temporary failure (checkpassword exited 111 or 2, crashed or timed out,
// too many checks were under way, the helper is gone, ctx ended), and the
// result is then AuthRejected.
//
// A login that is empty, or a login or password longer than 256 bytes or
// holding a NUL byte, cannot be valid and is rejected without asking.
// remoteIP must be an IP address in canonical form, without a zone. The
// password appears in no error; the copy made for the request is zeroed
// after it.
func (c *Client) CheckPassword(ctx context.Context, login, password, remoteIP string) (AuthResult, error) {
	if checkCredentials([]byte(login), []byte(password)) != nil {
		return AuthRejected, nil
	}
	if err := checkRemoteIP(remoteIP); err != nil {
		return AuthRejected, err
	}
	pw := []byte(password)
	defer clear(pw)
	a, err := c.ask(ctx, tagAuthResult, nil, func(tok []byte) [][]byte { return encodeAuth(tok, []byte(login), pw, remoteIP) })
	if err != nil {
		return AuthRejected, err
	}
	return a.auth.Result, a.auth.Err
}

// The bounds on checkpassword runs: as many at once, as many more waiting
// for their turn, and for no longer than this. A flood of AUTH attempts
// then costs at most so many processes, and the rest fail temporarily.
const (
	maxAuthChecks  = 8
	maxAuthWaiting = 32
	authQueueWait  = 2 * time.Second
)

// DefaultCheckpasswordTimeout is how long a checkpassword program may run
// before its process group is killed.
const DefaultCheckpasswordTimeout = 10 * time.Second

// maxCheckpasswordOutput bounds what is kept of checkpassword's stderr
// for the log.
const maxCheckpasswordOutput = 512

// checkpasswordPath is the PATH checkpassword runs with.
const checkpasswordPath = "PATH=/usr/bin:/bin"

// checkPassword runs the checkpassword program for one auth/1 request, as
// qmail-popup does:
//
//   - argv: Helper.Checkpassword, then the program it runs on success,
//     true (/bin/true, or "true" on the helper's PATH);
//   - descriptor 3: a pipe holding login NUL password NUL NUL (an empty
//     timestamp), closed after it;
//   - stdin and stdout /dev/null; stderr kept (the first 512 bytes) and
//     logged as a warning, unless it holds the password;
//   - environment: PATH=/usr/bin:/bin and TCPREMOTEIP, nothing else;
//   - working directory /, the helper's own credentials (root: the
//     program reads the password table), a process group of its own,
//     killed whole after CheckpasswordTimeout.
//
// Exit 0 is AuthAccepted, 1 AuthRejected; anything else (111, 2 for
// misuse, a signal, the timeout) is a temporary failure. req.Password is
// zeroed before it returns.
func (h *Helper) checkPassword(ctx context.Context, req *authRequest) (AuthResult, error) {
	defer clear(req.Password)
	if len(h.Checkpassword) == 0 {
		return AuthRejected, errors.New("no checkpassword program is configured")
	}
	truePath, err := trueProgram()
	if err != nil {
		return AuthRejected, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return AuthRejected, fmt.Errorf("checkpassword: %v", err)
	}
	defer r.Close()
	// At most 515 bytes: the pipe holds them all, so the write cannot
	// wait for the program.
	in := make([]byte, 0, len(req.Login)+len(req.Password)+3)
	in = append(append(append(append(in, req.Login...), 0), req.Password...), 0, 0)
	_, err = w.Write(in)
	clear(in)
	w.Close()
	if err != nil {
		return AuthRejected, fmt.Errorf("checkpassword: writing to its descriptor 3: %v", err)
	}

	timeout := h.CheckpasswordTimeout
	if timeout == 0 {
		timeout = DefaultCheckpasswordTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := append(append([]string(nil), h.Checkpassword...), truePath)
	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	cmd.Env = []string{checkpasswordPath, "TCPREMOTEIP=" + req.RemoteIP}
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{r}
	// Kept a little longer than shown, so that a password printed
	// across the end of what is shown is still seen whole.
	stderr := &limitedBuffer{max: maxCheckpasswordOutput + maxPasswordLen}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The whole group: the program's own children die with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child left holding stderr does not hold the answer up.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	h.logCheckpasswordOutput(argv[0], req, stderr.buf.Bytes())
	var exit *exec.ExitError
	switch {
	case tctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return AuthRejected, fmt.Errorf("%s timed out after %v", argv[0], timeout)
	case ctx.Err() != nil:
		return AuthRejected, ctx.Err()
	case err == nil:
		return AuthAccepted, nil
	case errors.As(err, &exit):
		ws, _ := exit.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			return AuthRejected, fmt.Errorf("%s crashed: %v", argv[0], ws.Signal())
		case ws.ExitStatus() == 1:
			return AuthRejected, nil
		case ws.ExitStatus() == 2:
			return AuthRejected, fmt.Errorf("%s exited 2: it was misused", argv[0])
		case ws.ExitStatus() == 111:
			return AuthRejected, fmt.Errorf("%s exited 111: temporary failure", argv[0])
		}
		return AuthRejected, fmt.Errorf("%s exited %d", argv[0], ws.ExitStatus())
	}
	// Starting it failed; the error names the program, not its input.
	return AuthRejected, fmt.Errorf("checkpassword: %v", err)
}

// logCheckpasswordOutput warns with what the program wrote to stderr,
// unless it holds the password anywhere in what was kept.
func (h *Helper) logCheckpasswordOutput(prog string, req *authRequest, out []byte) {
	if len(out) == 0 {
		return
	}
	if len(req.Password) > 0 && bytes.Contains(out, req.Password) {
		h.warn("checkpassword %s for login %q wrote %d bytes to stderr holding the password; not logged", prog, req.Login, len(out))
		clear(out)
		return
	}
	if len(out) > maxCheckpasswordOutput {
		out = out[:maxCheckpasswordOutput]
	}
	h.warn("checkpassword %s for login %q: %q", prog, req.Login, out)
	clear(out)
}

// trueProgram is what checkpassword runs after a good password.
func trueProgram() (string, error) {
	if fi, err := os.Stat("/bin/true"); err == nil && fi.Mode().IsRegular() {
		return "/bin/true", nil
	}
	p, err := exec.LookPath("true")
	if err != nil {
		return "", fmt.Errorf("checkpassword: no true program to run after it: %v", err)
	}
	return p, nil
}

// limitedBuffer keeps the first max bytes written to it and takes the
// rest without keeping it.
type limitedBuffer struct {
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// gate bounds one kind of work in the helper: at most slots at once, and
// at most waiting more in line, each for at most wait. Work that finds the
// line full, or waits too long, fails at once instead of piling up.
type gate struct {
	slots chan struct{}
	line  chan struct{} // those running and those waiting
	wait  time.Duration
}

func newGate(slots, waiting int, wait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, slots), line: make(chan struct{}, slots+waiting), wait: wait}
}

// enter takes a place in line without waiting; false when the line is
// full. Each true is followed by exactly one leave.
func (g *gate) enter() bool {
	select {
	case g.line <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire waits for a slot, at most g.wait; each true is followed by
// exactly one release, before leave.
func (g *gate) acquire(ctx context.Context) bool {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (g *gate) release() { <-g.slots }
func (g *gate) leave()   { <-g.line }
