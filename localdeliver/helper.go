package localdeliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
)

// Helper is the local delivery helper: the one part of gqmail that keeps
// root. For each request from the daemon it resolves the recipient itself
// (Resolver) and hands the delivery to a child process running as that
// user. It never delivers as root, and it never lets a child serve two
// uids. It also answers the two questions the daemon cannot, having
// dropped root: whether a local address exists (rcpt/1, by lstat only,
// opening nothing in a home) and whether a login and password are right
// (auth/1, by running the checkpassword program).
type Helper struct {
	Resolver *Resolver
	// DefaultDelivery is what an absent or empty .qmail file means
	// ("./Mailbox" or "./Maildir/"). It comes from the helper's own start
	// arguments, not from the daemon's requests.
	DefaultDelivery string
	// ChildCommand is the command that starts a delivery child (the
	// qmaild binary with its child argument).
	ChildCommand []string
	// SetCredentials runs children as the resolved uid and gid. It is
	// set when the helper runs as root; otherwise every child runs as the
	// helper's own user and only that user's mail is delivered.
	SetCredentials bool
	// ChildIdle is how long an idle child is kept for its user's next
	// delivery; zero means 5 seconds.
	ChildIdle time.Duration
	// ChildJobs bounds the deliveries one child makes before it is
	// replaced; zero means 10000.
	ChildJobs int
	// Checkpassword is the checkpassword program and its arguments, run
	// for SMTP AUTH with true appended; it comes from the helper's own
	// start arguments, never from the daemon. Empty, every check is a
	// temporary failure.
	Checkpassword []string
	// CheckpasswordTimeout ends a checkpassword run that takes longer;
	// zero means DefaultCheckpasswordTimeout.
	CheckpasswordTimeout time.Duration
	// Warn reports trouble that concerns no single delivery.
	Warn func(format string, args ...any)

	pool childPool
	// rcpts and auths bound the recipient checks and the checkpassword
	// runs, so that neither can starve deliveries or the host.
	rcpts, auths *gate
}

// The bounds on recipient checks: lookups are quick, unless the password
// database or a home's file system hangs.
const (
	maxRcptChecks  = 16
	maxRcptWaiting = 256
	rcptQueueWait  = 2 * time.Second
)

// maxConcurrent caps the deliveries under way, as qmail's SPAWN does.
const maxConcurrent = 120

// Serve answers the daemon's requests on conn (deliver/1, rcpt/1, auth/1)
// until it closes or ctx ends, then stops every child. A frame that is not
// one of those requests, or breaks their bounds, ends it: the daemon is
// the less trusted side, and a broken stream cannot be resynced. A tag it
// does not know is first answered with "version" and the tags it speaks.
//
// Deliveries run at most maxConcurrent at once; beyond that Serve reads
// no more requests until one ends. Recipient checks and checkpassword
// runs each have their own smaller bound, with a short line behind it,
// and fail temporarily rather than wait longer, so that neither holds up
// the deliveries nor floods the host.
func (h *Helper) Serve(ctx context.Context, conn *frame.Conn) error {
	h.pool.init(h)
	defer h.pool.closeAll()
	h.rcpts = newGate(maxRcptChecks, maxRcptWaiting, rcptQueueWait)
	h.auths = newGate(maxAuthChecks, maxAuthWaiting, authQueueWait)
	reapCtx, stopReap := context.WithCancel(ctx)
	var reaper sync.WaitGroup
	reaper.Go(func() { h.pool.reap(reapCtx) })
	defer func() { stopReap(); reaper.Wait() }()

	// wg counts the deliveries under way; Serve returns after they end.
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxConcurrent)
	for {
		fields, rest, err := conn.ReadLimit(maxRequestFrame)
		if err != nil {
			wg.Wait()
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("delivery helper: reading request: %w", err)
		}
		var tag string
		if len(fields) > 0 {
			tag = string(fields[0])
		}
		switch tag {
		case tagRcpt, tagAuth:
			if rest != nil {
				rest.Close()
				wg.Wait()
				return fmt.Errorf("delivery helper: %w: %q with a descriptor", frame.ErrMalformed, tag)
			}
			if err := h.serveCheck(ctx, conn, &wg, fields); err != nil {
				wg.Wait()
				return fmt.Errorf("delivery helper: %w", err)
			}
			continue
		}
		tok, req, err := decodeRequest(fields)
		if err != nil {
			if rest != nil {
				rest.Close()
			}
			var v *versionError
			if errors.As(err, &v) {
				conn.Write(nil, append([][]byte{[]byte(tagVersion)}, helperTags...)...)
			}
			wg.Wait()
			return fmt.Errorf("delivery helper: %w", err)
		}
		req.Rest = rest
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			resp := h.deliver(req)
			if req.Rest != nil {
				req.Rest.Close()
			}
			if err := conn.Write(nil, encodeResult(tok, resp)...); err != nil {
				h.warn("delivery helper: writing result: %v", err)
			}
		})
	}
}

// serveCheck starts answering one rcpt/1 or auth/1 request, under its
// gate: with the gate's line full, or after waiting too long for a slot,
// the answer is a temporary failure. The error is a malformed request,
// which ends Serve; it never holds the login or the password.
func (h *Helper) serveCheck(ctx context.Context, conn *frame.Conn, wg *sync.WaitGroup, fields [][]byte) error {
	var (
		g     *gate
		run   func() [][]byte // the answer
		busy  func() [][]byte // the answer when the gate is shut
		clean = func() {}     // what a request that is not run leaves
	)
	if string(fields[0]) == tagRcpt {
		tok, recipient, err := decodeRcpt(fields)
		if err != nil {
			return err
		}
		g = h.rcpts
		run = func() [][]byte {
			info, err := h.checkRecipient(recipient)
			return encodeRcptInfo(tok, rcptAnswer{Info: info, Err: err})
		}
		busy = func() [][]byte {
			return encodeRcptInfo(tok, rcptAnswer{Err: outcome.Temporary("Too many recipient checks under way. (#4.3.0)")})
		}
	} else {
		tok, req, err := decodeAuth(fields)
		if err != nil {
			for _, f := range fields[1:] {
				clear(f)
			}
			return err
		}
		g = h.auths
		run = func() [][]byte {
			res, err := h.checkPassword(ctx, req)
			if err != nil {
				h.warn("checkpassword for login %q: %v", req.Login, err)
			}
			return encodeAuthResult(tok, authAnswer{Result: res, Err: err})
		}
		busy = func() [][]byte {
			return encodeAuthResult(tok, authAnswer{Err: errors.New("too many checkpassword runs under way")})
		}
		clean = func() { clear(req.Password) }
	}
	if !g.enter() {
		clean()
		if err := conn.Write(nil, busy()...); err != nil {
			h.warn("delivery helper: writing answer: %v", err)
		}
		return nil
	}
	wg.Go(func() {
		defer g.leave()
		var out [][]byte
		if g.acquire(ctx) {
			out = run()
			g.release()
		} else {
			clean()
			out = busy()
		}
		if err := conn.Write(nil, out...); err != nil {
			h.warn("delivery helper: writing answer: %v", err)
		}
	})
	return nil
}

func (h *Helper) warn(format string, args ...any) {
	if h.Warn != nil {
		h.Warn(format, args...)
	}
}

func (h *Helper) deliver(req *Request) *Response {
	at := strings.LastIndexByte(req.Recipient, '@')
	if at == 0 {
		// qmail-lspawn's trash address: nothing to do, and done.
		return &Response{Report: "did 0+0+0"}
	}
	id, err := h.Resolver.Resolve(req.Recipient)
	if err != nil {
		return fromError(err)
	}
	if !h.SetCredentials && id.UID != os.Getuid() {
		return deferral(fmt.Sprintf("Not running as root, so I deliver only as uid %d, but %s belongs to %s (uid %d). (#4.3.0)",
			os.Getuid(), req.Recipient, id.User, id.UID))
	}
	j := &job{Identity: id, Sender: req.Sender, DefaultDelivery: h.DefaultDelivery, Message: req.Message, Rest: req.Rest}
	for try := 0; ; try++ {
		c, err := h.pool.get(id.UID, id.GID)
		if err != nil {
			h.warn("unable to start delivery child for uid %d: %v", id.UID, err)
			return deferral("Unable to run qmail-local. (#4.3.0)")
		}
		resp, err := c.run(j)
		if err == nil {
			h.pool.put(c)
			return resp
		}
		c.kill()
		// A child that was idle may have gone away between jobs; only a
		// child that took the job and then died is a crash.
		if errors.Is(err, errChildGone) && try == 0 {
			continue
		}
		if errors.Is(err, errVersion) {
			h.warn("%v", err)
			return deferral(fmt.Sprintf("Delivery child and helper disagree: %v; restart qmaild. (#4.3.0)", err))
		}
		return deferral("Aack, child crashed. (#4.3.0)")
	}
}

var (
	errChildGone = errors.New("delivery child closed its socket")
	errVersion   = errors.New("delivery child version mismatch")
)

// child is one delivery child process, serving one uid.
type child struct {
	cmd      *exec.Cmd
	conn     *frame.Conn
	key      [2]int
	jobs     int
	lastUsed time.Time
}

func (c *child) run(j *job) (*Response, error) {
	c.jobs++
	if err := c.conn.Write(j.Rest, encodeJob(j)...); err != nil {
		return nil, fmt.Errorf("%w: %v", errChildGone, err)
	}
	fields, fd, err := c.conn.ReadLimit(maxResultFrame)
	if fd != nil {
		fd.Close()
		return nil, fmt.Errorf("delivery child for uid %d sent a descriptor", c.key[0])
	}
	if err != nil {
		return nil, fmt.Errorf("delivery child for uid %d: %w", c.key[0], err)
	}
	_, resp, err := decodeResult(fields)
	var v *versionError
	if errors.As(err, &v) {
		return nil, fmt.Errorf("%w: the delivery child speaks %q and this helper %q", errVersion, v.got, tagJob)
	}
	return resp, err
}

// maxResultFrame bounds what the helper reads from a child, which runs as
// the user and may say anything: a report (3000 bytes at most) and the
// forward addresses of one .qmail file.
const maxResultFrame = 1 << 20

// stop ends the child by closing its socket, and waits for it.
func (c *child) stop() {
	c.conn.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) kill() {
	c.conn.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// childPool keeps idle children per uid and gid.
type childPool struct {
	h    *Helper
	mu   sync.Mutex
	idle map[[2]int][]*child
}

func (p *childPool) init(h *Helper) {
	p.h = h
	p.idle = map[[2]int][]*child{}
}

func (p *childPool) get(uid, gid int) (*child, error) {
	key := [2]int{uid, gid}
	p.mu.Lock()
	if list := p.idle[key]; len(list) > 0 {
		c := list[len(list)-1]
		p.idle[key] = list[:len(list)-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	return p.start(uid, gid)
}

func (p *childPool) start(uid, gid int) (*child, error) {
	if uid == 0 {
		return nil, errors.New("refusing to start a delivery child as root")
	}
	argv := p.h.ChildCommand
	cmd := exec.Command(argv[0], argv[1:]...)
	// A child does one delivery at a time: one P keeps the Go scheduler
	// from waking idle threads to look for work that never comes.
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GOMAXPROCS=1"}
	cmd.Dir = "/"
	cmd.Stderr = &childLog{uid: uid, warn: p.h.warn}
	// A program may hold the stderr pipe open after the child exits;
	// Wait gives up on it after this long.
	cmd.WaitDelay = 5 * time.Second
	if p.h.SetCredentials {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}},
			Setsid:     true,
		}
	}
	conn, theirs, err := frame.Pair()
	if err != nil {
		return nil, err
	}
	// The socket is the child's descriptor 0; its stdout is /dev/null.
	cmd.Stdin = theirs
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &child{cmd: cmd, conn: conn, key: [2]int{uid, gid}}, nil
}

func (p *childPool) put(c *child) {
	limit := p.h.ChildJobs
	if limit == 0 {
		limit = 10000
	}
	if c.jobs >= limit {
		c.stop()
		return
	}
	c.lastUsed = time.Now()
	p.mu.Lock()
	p.idle[c.key] = append(p.idle[c.key], c)
	p.mu.Unlock()
}

// reap stops children idle for longer than ChildIdle, until ctx ends.
func (p *childPool) reap(ctx context.Context) {
	idle := p.h.ChildIdle
	if idle == 0 {
		idle = 5 * time.Second
	}
	t := time.NewTicker(idle / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var old []*child
		p.mu.Lock()
		for key, list := range p.idle {
			keep := list[:0]
			for _, c := range list {
				if time.Since(c.lastUsed) > idle {
					old = append(old, c)
				} else {
					keep = append(keep, c)
				}
			}
			p.idle[key] = keep
		}
		p.mu.Unlock()
		for _, c := range old {
			c.stop()
		}
	}
}

func (p *childPool) closeAll() {
	p.mu.Lock()
	all := p.idle
	p.idle = map[[2]int][]*child{}
	p.mu.Unlock()
	for _, list := range all {
		for _, c := range list {
			c.stop()
		}
	}
}
