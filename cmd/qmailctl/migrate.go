package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/control"
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
imported queue. --dry-run says what would be done and changes nothing.`,
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
func (m *migration) bar(max int64, what string, bytes bool) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
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
	controls := control.Open(p.Control, nil)
	if err := controls.Check(); err != nil {
		return fmt.Errorf("queue: the root's control files route the messages not yet preprocessed; fix them first:\n%w", err)
	}
	router := &route.Router{Controls: controls}
	db, err := store.Open(p.QueueDB, store.Options{Owner: "qmailctl migrate queue", Route: router.Route})
	if err != nil {
		if strings.Contains(err.Error(), "is in use") {
			return fmt.Errorf("queue: the import writes queue.db itself, so the gqmail daemon must be stopped: %w", err)
		}
		return fmt.Errorf("queue: %w", err)
	}
	var opts migrate.ImportOptions
	if m.progress {
		bar := m.bar(int64(len(scan.Messages)), "queue", false)
		defer bar.Finish()
		opts.Progress = func(done int) { bar.Set(done) }
	}
	res, err := migrate.ImportQueue(ctx, db, scan, opts)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if ferr := chownQueueFiles(p); err == nil {
		err = ferr
	}
	if res != nil {
		fmt.Fprintf(m.out, "queue: %d messages queued with %d recipients, %d imported before, %d unreadable, in %v\n",
			res.Queued, res.Recipients, res.Skipped, len(res.Failed), time.Since(start).Round(time.Millisecond))
		for _, f := range res.Failed {
			fmt.Fprintf(m.out, "  unreadable, left in place: %s\n", f)
		}
	}
	if err != nil {
		return fmt.Errorf("queue: %w (what was queued stays queued; run the import again to go on)", err)
	}
	return nil
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

// chownQueueFiles gives the files the import made in queue/ (the
// database, when it made it, and large bodies in queue/bodies/) to the
// owner of queue/, the daemon's account, when the import ran as root:
// the daemon opens them after it drops root. Only regular files with one
// link are changed, without following symbolic links.
func chownQueueFiles(p layout.Paths) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(p.Queue)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	paths := []string{p.QueueDB, filepath.Join(p.Queue, "bodies")}
	bodies, _ := os.ReadDir(filepath.Join(p.Queue, "bodies"))
	for _, e := range bodies {
		paths = append(paths, filepath.Join(p.Queue, "bodies", e.Name()))
	}
	for _, path := range paths {
		fi, err := os.Lstat(path)
		if err != nil {
			continue
		}
		fst := fi.Sys().(*syscall.Stat_t)
		if fst.Uid != 0 || (!fi.IsDir() && (!fi.Mode().IsRegular() || fst.Nlink != 1)) {
			continue
		}
		if err := os.Lchown(path, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return nil
}
