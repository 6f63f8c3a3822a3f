package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/fds"
	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/migrate"
	"github.com/gqmail/gqmail/store"
)

// migration carries the flags of qmailctl migrate.
type migration struct {
	a      *app
	from   string
	dryRun bool
	force  bool
	out    io.Writer
	// progress says whether long steps draw a bar on stderr.
	progress bool
}

func (a *app) migrateCommand() *cobra.Command {
	m := &migration{a: a}
	cmd := &cobra.Command{
		Use:   "migrate [--from DIR] [--dry-run] [--force] [all|control|users|queue]",
		Short: "move a qmail installation's control files, users table and queue into the root",
		Long: `Moves a qmail installation (--from, /var/qmail by default) into the root, in
three steps, run in this order by "migrate" or "migrate all", or alone:

  control  copies the control files gqmail reads, after checking each with
           gqmail's parser; lists those it ignores and why; refuses to
           overwrite a differing file unless --force (nothing is copied then)
  users    imports users/assign, or users/cdb when there is no users/assign
  queue    imports every message of a STOPPED qmail's queue with its sender
           and its recipients not yet done; damaged entries are listed and
           left; an import run again queues nothing twice

qmail's files are only read. The queue step needs qmail-send stopped (it
tests queue/lock/sendmutex) and the gqmail daemon stopped too (it opens
queue.db, which the daemon holds). Do not start qmail-send again on the
imported queue. --dry-run says what would be done and changes nothing.

Run as root, the queue step reads qmail's queue as root, following no link
in it, and writes the root's queue/ as the account that owns it (the
daemon's), in a child; run as another user, that user must own queue/.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			step := "all"
			if len(argv) == 1 {
				step = argv[0]
			}
			return m.run(cmd, step)
		},
	}
	cmd.Flags().StringVar(&m.from, "from", "/var/qmail", "the qmail installation (QMAILHOME)")
	cmd.Flags().BoolVar(&m.dryRun, "dry-run", false, "say what would be done, change nothing")
	cmd.Flags().BoolVar(&m.force, "force", false, "control: overwrite the root's files that differ from qmail's")
	cmd.AddCommand(a.queueWriterCommand())
	return cmd
}

func (m *migration) run(cmd *cobra.Command, step string) error {
	m.out = cmd.OutOrStdout()
	m.progress = term.IsTerminal(int(os.Stderr.Fd()))
	p, err := m.a.paths()
	if err != nil {
		return err
	}
	if fi, err := os.Stat(m.from); err != nil || !fi.IsDir() {
		return usageError{fmt.Errorf("--from %s: not a qmail installation directory", m.from)}
	}
	if same(m.from, p.Root) {
		return usageError{fmt.Errorf("--from %s is the root itself", m.from)}
	}
	// The first SIGINT or SIGTERM stops the import between messages (what
	// was queued stays queued); the handler then goes, so a second one
	// ends qmailctl at once, wherever it is.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	switch step {
	case "control":
		return m.control(p)
	case "users":
		return m.users(p)
	case "queue":
		return m.queue(ctx, p)
	case "all":
		if err := m.control(p); err != nil {
			return err
		}
		if err := m.users(p); err != nil {
			return err
		}
		return m.queue(ctx, p)
	}
	return usageError{fmt.Errorf("unknown step %q: want all, control, users or queue", step)}
}

// same says whether a and b are the same directory.
func same(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func (m *migration) dry() string {
	if m.dryRun {
		return " (--dry-run: nothing changed)"
	}
	return ""
}

func (m *migration) control(p layout.Paths) error {
	plan, err := migrate.PlanControl(filepath.Join(m.from, "control"), p.Control)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.out, "control: %s -> %s\n", plan.From, plan.To)
	for _, f := range plan.Files {
		if f.Reason != "" {
			fmt.Fprintf(m.out, "  %-9s %s: %s\n", f.Action, f.Name, f.Reason)
		} else {
			fmt.Fprintf(m.out, "  %-9s %s\n", f.Action, f.Name)
		}
	}
	if m.dryRun {
		verb := "would copy"
		if n := plan.Count(migrate.ControlInvalid); n > 0 || plan.Count(migrate.ControlConflict) > 0 && !m.force {
			verb = "would refuse, copying none of"
		}
		fmt.Fprintf(m.out, "control: %s %d; %d identical, %d differ, %d invalid, %d ignored%s\n", verb,
			plan.Count(migrate.ControlCopy)+plan.Count(migrate.ControlConflict)*boolInt(m.force),
			plan.Count(migrate.ControlSame), plan.Count(migrate.ControlConflict), plan.Count(migrate.ControlInvalid),
			plan.Count(migrate.ControlIgnore), m.dry())
		return nil
	}
	copied, err := plan.Apply(m.force)
	var refused *migrate.ControlRefused
	if errors.As(err, &refused) {
		fmt.Fprintf(os.Stderr, "qmailctl: control: %v\n", err)
		return exitError{cli.ExitPermanent}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.out, "control: %d copied, %d identical, %d ignored\n", len(copied), plan.Count(migrate.ControlSame), plan.Count(migrate.ControlIgnore))
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *migration) users(p layout.Paths) error {
	assign := filepath.Join(m.from, "users", "assign")
	cdb := filepath.Join(m.from, "users", "cdb")
	var (
		entries []store.AssignEntry
		source  string
	)
	f, err := os.Open(assign)
	switch {
	case err == nil:
		defer f.Close()
		source = assign
		var r io.Reader = f
		if fi, err := f.Stat(); err == nil && m.progress {
			bar := m.bar(fi.Size(), "users/assign", true)
			defer bar.Finish()
			pr := progressbar.NewReader(f, bar)
			r = &pr
		}
		entries, err = migrate.ParseAssign(bufio.NewReaderSize(r, 1<<16), assign)
		if err != nil {
			return fmt.Errorf("users: nothing changed:\n%w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		data, cerr := os.ReadFile(cdb)
		if errors.Is(cerr, fs.ErrNotExist) {
			fmt.Fprintf(m.out, "users: neither %s nor %s: nothing to import\n", assign, cdb)
			return nil
		}
		if cerr != nil {
			return fmt.Errorf("users: %w", cerr)
		}
		source = cdb + " (no users/assign)"
		if entries, err = migrate.AssignFromCDB(data, cdb); err != nil {
			return fmt.Errorf("users: nothing changed:\n%w", err)
		}
	default:
		return fmt.Errorf("users: %w", err)
	}
	if m.dryRun {
		fmt.Fprintf(m.out, "users: %s: %d assignments, all good%s\n", source, len(entries), m.dry())
		return nil
	}
	if err := store.WriteAssignTable(p.Assign, entries); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	fmt.Fprintf(m.out, "users: %s: %d assignments imported into %s\n", source, len(entries), p.Assign)
	return nil
}

// bar returns a progress bar on stderr, which clears itself when done.
func (m *migration) bar(total int64, what string, bytes bool) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (m *migration) queue(ctx context.Context, p layout.Paths) error {
	qdir := filepath.Join(m.from, "queue")
	if err := migrate.CheckQmailStopped(qdir); err != nil {
		fmt.Fprintf(os.Stderr, "qmailctl: queue: %v\n", err)
		if !m.dryRun {
			return exitError{cli.ExitTemporary}
		}
	}
	start := time.Now()
	scan, err := migrate.ScanQueue(qdir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	fmt.Fprintf(m.out, "queue: %s (split %d): %d messages with %d recipients to import, %d finished, %d damaged\n",
		qdir, scan.Split, len(scan.Messages), scan.Recipients(), scan.Finished, len(scan.Damaged))
	defer m.listProblems(scan)
	if m.dryRun {
		todo := 0
		for i := range scan.Messages {
			if !scan.Messages[i].Preprocessed() {
				todo++
			}
		}
		fmt.Fprintf(m.out, "queue: %d of them not yet preprocessed (todo/)%s\n", todo, m.dry())
		return nil
	}
	if len(scan.Messages) == 0 {
		return nil
	}
	var opts migrate.ImportOptions
	if m.progress {
		bar := m.bar(int64(len(scan.Messages)), "queue", false)
		defer bar.Finish()
		opts.Progress = func(done int) { bar.Set(done) }
	}
	var res *migrate.QueueImport
	if os.Geteuid() == 0 {
		res, err = importAsOwner(ctx, p, scan, opts)
	} else {
		res, err = importHere(ctx, p, scan, opts)
	}
	if res != nil {
		fmt.Fprintf(m.out, "queue: %d messages queued with %d recipients, %d imported before, %d unreadable, in %v\n",
			res.Queued, res.Recipients, res.Skipped, len(res.Failed), time.Since(start).Round(time.Millisecond))
		for _, f := range res.Failed {
			fmt.Fprintf(m.out, "  unreadable, left in place: %s\n", f)
		}
	}
	if err != nil {
		if res == nil {
			return fmt.Errorf("queue: %w", err)
		}
		return fmt.Errorf("queue: %w (what was queued stays queued; run the import again to go on)", err)
	}
	return nil
}

// openQueueStore opens the root's queue database for the import, with the
// root's control files to route the messages not yet preprocessed, waiting
// up to lock for another process's hold on it (zero: the store's default).
// Its errors say what to do.
func openQueueStore(p layout.Paths, lock time.Duration) (*store.DB, error) {
	controls := control.Open(p.Control, nil)
	if err := controls.Check(); err != nil {
		return nil, fmt.Errorf("the root's control files route the messages not yet preprocessed; fix them first:\n%w", err)
	}
	router := &route.Router{Controls: controls}
	db, err := store.Open(p.QueueDB, store.Options{Owner: "qmailctl migrate queue", Route: router.Route, LockTimeout: lock})
	if err != nil {
		if errors.Is(err, store.ErrInUse) || strings.Contains(err.Error(), "is in use") {
			return nil, fmt.Errorf("the import writes queue.db itself, so the gqmail daemon must be stopped: %w", err)
		}
		return nil, err
	}
	return db, nil
}

// importHere queues in this process, which is not root: it must be the
// owner of the root's queue/, as the daemon's account is.
func importHere(ctx context.Context, p layout.Paths, scan *migrate.QueueScan, opts migrate.ImportOptions) (*migrate.QueueImport, error) {
	if uid, _, err := queueOwner(p); err != nil {
		return nil, err
	} else if uid != os.Geteuid() {
		return nil, fmt.Errorf("%s belongs to uid %d: run the import as that account (the daemon's) or as root", p.Queue, uid)
	}
	db, err := openQueueStore(p, 0)
	if err != nil {
		return nil, err
	}
	res, err := migrate.ImportQueue(ctx, db, scan, opts)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// queueOwner returns the owner of the root's queue/, opened without
// following a symbolic link.
func queueOwner(p layout.Paths) (uid, gid int, err error) {
	fd, err := unix.Open(p.Queue, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w (the daemon makes it at its first start)", p.Queue, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", p.Queue, err)
	}
	return int(st.Uid), int(st.Gid), nil
}

// writerFD is the descriptor the queue writer gets its socket on.
const writerFD = 3

// importAsOwner is the import run as root: root reads qmail's queue, and
// a child running as the owner of the root's queue/ (the daemon's
// account), "qmailctl migrate queue-writer", does everything in that
// directory, so that root never opens a file the account could have
// planted there. Each message goes to the child as its envelope and the
// descriptor of its mess file (internal/frame).
func importAsOwner(ctx context.Context, p layout.Paths, scan *migrate.QueueScan, opts migrate.ImportOptions) (*migrate.QueueImport, error) {
	uid, gid, err := queueOwner(p)
	if err != nil {
		return nil, err
	}
	if uid == 0 {
		return nil, fmt.Errorf("%s belongs to root, but the daemon runs as its own account (qmail.toml [users] daemon), which must own it: start qmaild once as root (it gives queue/ to that account), then import again", p.Queue)
	}
	root, err := filepath.Abs(p.Root)
	if err != nil {
		return nil, err
	}
	conn, theirs, err := frame.Pair()
	if err != nil {
		return nil, err
	}
	// The child runs as an account that may be hostile: it gets no
	// descriptor of root's terminal (its stderr is a pipe whose lines the
	// parent escapes), no controlling terminal (a session of its own, so
	// no TIOCSTI into root's), and dies with its parent.
	errR, errW, err := os.Pipe()
	if err != nil {
		conn.Close()
		theirs.Close()
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe", "--root", root, "migrate", "queue-writer")
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.Stderr = errW
	cmd.ExtraFiles = []*os.File{theirs} // writerFD
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		Setsid:     true,
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	theirs.Close()
	errW.Close()
	if err != nil {
		errR.Close()
		conn.Close()
		return nil, fmt.Errorf("starting the queue writer as uid %d: %w", uid, err)
	}
	copied := make(chan struct{})
	go func() { relayEscaped(os.Stderr, errR, uid); errR.Close(); close(copied) }()
	// wait is called once the socket is closed, when the child has
	// nothing left to do but close the database and exit. It is bounded
	// whatever the child does: one that does not exit within
	// writerExitGrace is killed, and if a process it left behind keeps
	// its stderr open, the relay stops writerExitGrace later.
	wait := func() error {
		if err := waitBounded(cmd, errR, copied, writerExitGrace); err != nil {
			return fmt.Errorf("the queue writer (uid %d): %w", uid, err)
		}
		return nil
	}
	// A child that does not answer within migrate's bounds
	// (migrate.ErrWriterTimeout) may be hung: it is killed, or waiting
	// for it would hang too.
	kill := func(err error) error {
		if !errors.Is(err, migrate.ErrWriterTimeout) {
			return err
		}
		if kerr := cmd.Process.Kill(); kerr != nil {
			return fmt.Errorf("%w; killing the queue writer (uid %d): %v", err, uid, kerr)
		}
		return fmt.Errorf("%w; the queue writer (uid %d) was killed", err, uid)
	}
	client, err := migrate.NewQueueWriterClient(conn)
	if err != nil {
		err = kill(err)
		conn.Close()
		wait()
		return nil, err
	}
	res, err := migrate.ImportQueueTo(ctx, client, scan, opts)
	err = kill(err)
	client.Close()
	if werr := wait(); err == nil {
		err = werr
	}
	return res, err
}

// waitBounded waits for cmd to exit, and then for copied, which is
// closed when the relay of the child's stderr (read from errR) has
// ended. A child still running after grace is killed; a relay still
// reading grace after that (a process the child left behind holds its
// stderr) is stopped by closing errR.
func waitBounded(cmd *exec.Cmd, errR *os.File, copied <-chan struct{}, grace time.Duration) error {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-exited
		err = fmt.Errorf("it had not exited %v after its socket closed, and was killed", grace)
	}
	select {
	case <-copied:
	case <-time.After(grace):
		errR.Close()
		<-copied
	}
	return err
}

// writerExitGrace is how long the queue writer may take to exit once its
// socket is closed (it closes queue.db, which writes nothing), and how
// long its stderr may stay open after that.
const writerExitGrace = 30 * time.Second

// maxChildLines bounds what the queue writer may print through its parent.
const maxChildLines = 100

// relayEscaped copies the child's stderr to w a line at a time, each
// line cut at 1000 bytes, its control bytes made '?', and prefixed with
// the child's uid; after maxChildLines lines the rest is read and dropped.
func relayEscaped(w io.Writer, r io.Reader, uid int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		if n++; n > maxChildLines {
			continue
		}
		line := sc.Bytes()
		if len(line) > 1000 {
			line = line[:1000]
		}
		out := make([]byte, len(line))
		for i, c := range line {
			if c < ' ' || c == 0x7f {
				c = '?'
			}
			out[i] = c
		}
		fmt.Fprintf(w, "qmailctl: queue writer (uid %d): %s\n", uid, out)
	}
	// A line over the scanner's bound ends the scan: the rest is read
	// and dropped, so that the child never blocks on a full pipe.
	io.Copy(io.Discard, r)
	if n > maxChildLines {
		fmt.Fprintf(w, "qmailctl: queue writer (uid %d): %d more lines dropped\n", uid, n-maxChildLines)
	}
}

// queueWriterCommand is the child of importAsOwner; it is not for people.
func (a *app) queueWriterCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "queue-writer",
		Short:  "the import's writer of the root's queue (started by migrate queue as root)",
		Hidden: true,
		Args:   args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.queueWriter()
		},
	}
}

func (a *app) queueWriter() error {
	if err := fds.Sanitize(writerFD); err != nil {
		return err
	}
	// The parent takes the terminal's signals; the writer ends when the
	// parent closes the socket, after the messages it was given.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if os.Geteuid() == 0 {
		return errors.New("queue-writer: refusing to run as root")
	}
	conn, err := frame.FileConn(os.NewFile(writerFD, "queue-writer-socket"))
	if err != nil {
		return fmt.Errorf("queue-writer: the socket on descriptor %d: %w", writerFD, err)
	}
	defer conn.Close()
	p, err := a.paths()
	if err != nil {
		conn.Write(nil, []byte("fail"), []byte(err.Error()))
		return exitError{cli.ExitTemporary}
	}
	// The parent's wait for "ready" is bounded after this wait (migrate's
	// WriterLockTimeout), so that a daemon holding the lock is named here.
	db, err := openQueueStore(p, migrate.WriterLockTimeout)
	if err != nil {
		conn.Write(nil, []byte("fail"), []byte(err.Error()))
		return exitError{cli.ExitTemporary}
	}
	if err := conn.Write(nil, []byte("ready")); err != nil {
		db.Close()
		return err
	}
	err = migrate.ServeQueueWriter(conn, migrate.StoreQueuer{DB: db}, 0)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (m *migration) listProblems(scan *migrate.QueueScan) {
	if len(scan.Damaged) > 0 {
		fmt.Fprintf(m.out, "queue: %d damaged entries, left in place:\n", len(scan.Damaged))
		for _, d := range scan.Damaged {
			fmt.Fprintf(m.out, "  %s\n", d)
		}
	}
	for _, w := range scan.Warnings {
		fmt.Fprintf(m.out, "queue: warning: %s\n", w)
	}
}
