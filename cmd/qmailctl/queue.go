package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/frontends/admin"
	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/store"
)

// queueFilterFlags are the filters every queue command takes.
type queueFilterFlags struct {
	sender, rcpt, domain, state, olderThan string
	all                                    bool
}

func (q *queueFilterFlags) add(cmd *cobra.Command, withAll bool) {
	fl := cmd.Flags()
	fl.StringVar(&q.sender, "sender", "", "messages from this envelope sender (no case; <> for the null sender)")
	fl.StringVar(&q.rcpt, "rcpt", "", "recipients with this address (no case)")
	fl.StringVar(&q.domain, "domain", "", "recipients at this domain (no case)")
	fl.StringVar(&q.state, "state", "", "recipients in this state: pending (never tried), deferred or held")
	fl.StringVar(&q.olderThan, "older-than", "", "messages that arrived more than this long ago (90m, 36h, 7d)")
	if withAll {
		fl.BoolVar(&q.all, "all", false, "every message (as ALL)")
	}
}

// filter makes the filter of the flags and the ids named in argv: ids,
// "ALL", or "-" for ids read from stdin (numbers, #numbers, or the JSON
// lines of queue list --json).
func (q *queueFilterFlags) filter(argv []string, stdin io.Reader) (admin.Filter, error) {
	f := admin.Filter{Sender: q.sender, Rcpt: q.rcpt, Domain: q.domain, State: q.state, All: q.all}
	if q.olderThan != "" {
		d, err := parseAge(q.olderThan)
		if err != nil {
			return f, usageError{err}
		}
		f.OlderThan = int64(d / time.Second)
	}
	for _, a := range argv {
		switch a {
		case "ALL":
			f.All = true
		case "-":
			ids, err := readIDs(stdin)
			if err != nil {
				return f, err
			}
			if f.IDs == nil {
				// "-" with nothing on stdin names nothing, not everything.
				f.IDs = []uint64{}
			}
			f.IDs = append(f.IDs, ids...)
		default:
			id, err := parseID(a)
			if err != nil {
				return f, usageError{err}
			}
			f.IDs = append(f.IDs, id)
		}
	}
	if f.All && f.IDs != nil {
		return f, usageError{errors.New("ALL and message ids together: name one or the other")}
	}
	if err := f.Check(); err != nil && !strings.Contains(err.Error(), "message ids in one request") {
		return f, usageError{err}
	}
	return f, nil
}

func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not a message id (a number, as queue list shows after #)", s)
	}
	return id, nil
}

// readIDs reads message ids, one or more a line, or a JSON object with
// an "id" a line.
func readIDs(r io.Reader) ([]uint64, error) {
	var out []uint64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) > 0 && line[0] == '{' {
			var m struct {
				ID *uint64 `json:"id"`
			}
			if err := json.Unmarshal(line, &m); err != nil || m.ID == nil || *m.ID == 0 {
				return nil, fmt.Errorf("stdin, line %d: a JSON object without a message id", n)
			}
			out = append(out, *m.ID)
			continue
		}
		for _, w := range strings.Fields(string(line)) {
			id, err := parseID(w)
			if err != nil {
				return nil, fmt.Errorf("stdin, line %d: %w", n, err)
			}
			out = append(out, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading ids from stdin: %w", err)
	}
	return out, nil
}

// parseAge is time.ParseDuration with days ("7d", "1d12h").
func parseAge(s string) (time.Duration, error) {
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("--older-than %q: %v", s, err)
		}
		days, s = n, s[i+1:]
	}
	var d time.Duration
	if s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--older-than: %v", err)
		}
	}
	d += time.Duration(days) * 24 * time.Hour
	if d < 0 {
		return 0, fmt.Errorf("--older-than %s is negative", d)
	}
	return d, nil
}

// queueReader reaches the queue through the running daemon or, while it
// is stopped, opens the database read-only.
func (a *app) queueReader() (admin.Reader, error) {
	p, err := a.paths()
	if err != nil {
		return nil, err
	}
	c, err := admin.Dial(admin.SocketPath(p.Submit))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, admin.ErrNotRunning) {
		return nil, err
	}
	// queue/ is the daemon account's: root reads nothing there with its
	// own rights, so a database planted by that account (a FIFO, a
	// crafted file) can hang or crash only a process of that account.
	if err := becomeQueueOwner(p.Queue); err != nil {
		return nil, err
	}
	l, lerr := admin.OpenLocal(p.QueueDB)
	if errors.Is(lerr, store.ErrInUse) {
		return nil, fmt.Errorf("%v, yet %v: is it starting or stopping? try again", err, lerr)
	}
	if lerr != nil {
		return nil, lerr
	}
	return l, nil
}

// becomeQueueOwner makes this process, when it runs as root, the owner of
// the queue directory (the daemon's account), for good: the read-only
// commands need nothing more. It does nothing for another caller.
func becomeQueueOwner(queueDir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fd, err := unix.Open(queueDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", queueDir, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("%s: %w", queueDir, err)
	}
	if st.Uid == 0 {
		return nil // a root's own queue: nobody else could plant anything
	}
	uid, gid := int(st.Uid), int(st.Gid)
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups(%d): %w", gid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d): %w", uid, err)
	}
	return nil
}

func (a *app) queueCommand() *cobra.Command {
	queue := group(&cobra.Command{
		Use:   "queue",
		Short: "list, count, show and change the queue (through the daemon; list, stat and show also while it is stopped)",
	}, a.queueList(), a.queueStat(), a.queueShow())
	for _, c := range []struct{ verb, short string }{
		{admin.VerbRetry, "make waiting recipients due now, as SIGALRM does for all"},
		{admin.VerbHold, "put waiting recipients on hold: never tried, never expired, until released"},
		{admin.VerbRelease, "take held recipients off hold, due now"},
		{admin.VerbDelete, "remove messages from the queue, with no bounce"},
		{admin.VerbBounce, "fail waiting recipients now, with a bounce saying the administrator removed them"},
	} {
		queue.AddCommand(a.queueChange(c.verb, c.short))
	}
	return queue
}

func (a *app) queueList() *cobra.Command {
	var flt queueFilterFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json] [filters] [ID...|-]",
		Short: "list the queue as qmail-qread does, or as JSON lines",
		Long: `Lists each message as qmail-qread does: arrival time, number, size and sender,
then one line per recipient with its channel, "done" in front when it is done
and "held" when it is on hold. With --json, one JSON object per message per line
(fields in README.md, "Queue administration").`,
		RunE: func(cmd *cobra.Command, argv []string) error {
			f, err := flt.filter(argv, cmd.InOrStdin())
			if err != nil {
				return err
			}
			r, err := a.queueReader()
			if err != nil {
				return err
			}
			defer r.Close()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			err = r.List(f, func(m *admin.Message) error {
				if asJSON {
					return enc.Encode(m)
				}
				return admin.WriteQread(w, m)
			})
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	flt.add(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per message per line")
	return cmd
}

func (a *app) queueStat() *cobra.Command {
	var flt queueFilterFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat [--json] [filters]",
		Short: "count the queue as qmail-qstat does; --json adds counts by state and channel, the oldest message's age and the bytes held",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, argv []string) error {
			f, err := flt.filter(nil, nil)
			if err != nil {
				return err
			}
			r, err := a.queueReader()
			if err != nil {
				return err
			}
			defer r.Close()
			st, err := r.Stat(f)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(st)
			}
			return admin.WriteQstat(cmd.OutOrStdout(), st)
		},
	}
	flt.add(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}

// shown is queue show --json's object: the listing's fields, and the
// header or the whole message.
type shown struct {
	*admin.Message
	Header  *string `json:"header,omitempty"`
	Content *string `json:"message,omitempty"`
}

func (a *app) queueShow() *cobra.Command {
	var body, asJSON bool
	cmd := &cobra.Command{
		Use:   "show [--body] [--json] ID",
		Short: "show a message's envelope, each recipient's history and its header (--body: the whole message)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id, err := parseID(argv[0])
			if err != nil {
				return usageError{err}
			}
			r, err := a.queueReader()
			if err != nil {
				return err
			}
			defer r.Close()
			out := bufio.NewWriter(terminalSafe(cmd.OutOrStdout()))
			defer out.Flush()
			var msg *admin.Message
			var text bytes.Buffer
			var dst io.Writer = out
			if asJSON {
				dst = &text
			}
			err = r.Show(id, body, func(m *admin.Message) error {
				msg = m
				if !asJSON {
					writeShow(out, m)
				}
				return nil
			}, dst)
			if err != nil {
				if strings.Contains(err.Error(), "is not in the queue") {
					fmt.Fprintf(cmd.ErrOrStderr(), "qmailctl: message %d is not in the queue\n", id)
					return exitError{cli.ExitPermanent}
				}
				return err
			}
			if asJSON {
				s := shown{Message: msg}
				t := text.String()
				if body {
					s.Content = &t
				} else {
					s.Header = &t
				}
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				return enc.Encode(s)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&body, "body", false, "the whole message, not only its header")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object (the listing's fields, and header or message)")
	return cmd
}

// writeShow writes a message's envelope and recipients for people,
// followed by an empty line.
func writeShow(w io.Writer, m *admin.Message) {
	at := time.Unix(m.ArrivalTime, 0).UTC()
	fmt.Fprintf(w, "message: %d\narrival: %s (%s ago)\nsize: %d\nsender: <%s>\n", m.ID, date822.Qread(at),
		time.Since(at).Round(time.Second), m.Size, qlog.Safe(m.Sender))
	origin := m.Origin.Kind
	if m.Origin.RemoteIP != "" {
		origin += " from " + m.Origin.RemoteIP
	}
	if m.Origin.HELO != "" {
		origin += " helo " + qlog.Safe(m.Origin.HELO)
	}
	if m.Origin.UID >= 0 {
		origin += fmt.Sprintf(" uid %d", m.Origin.UID)
	}
	fmt.Fprintf(w, "origin: %s\n", origin)
	for _, r := range m.Recipients {
		fmt.Fprintf(w, "recipient: <%s> %s %s\n", qlog.Safe(r.Address), r.Channel, r.State)
		if r.DeliverTo != "" {
			fmt.Fprintf(w, "  delivered to: %s\n", qlog.Safe(r.DeliverTo))
		}
		fmt.Fprintf(w, "  attempts: %d\n", r.Attempts)
		if r.NextAttempt != 0 {
			fmt.Fprintf(w, "  next attempt: %s\n", time.Unix(r.NextAttempt, 0).UTC().Format(time.DateTime+" UTC"))
		}
		if r.LastResult != "" {
			fmt.Fprintf(w, "  last result: %s\n", qlog.Readable(r.LastResult))
		}
	}
	fmt.Fprintln(w)
}

func (a *app) queueChange(verb, short string) *cobra.Command {
	var flt queueFilterFlags
	var dry bool
	cmd := &cobra.Command{
		Use:   verb + " [--dry-run] [filters] [ID...|ALL|-]",
		Short: short,
		Long: short + `.

Takes message ids, ALL (or --all), or - to read ids from stdin (numbers, or the
JSON lines of queue list --json), and the filters; --rcpt, --domain and --state
narrow it to those recipients (delete always removes whole messages). Needs the
running daemon. Prints how many messages and recipients it changed.`,
		RunE: func(cmd *cobra.Command, argv []string) error {
			f, err := flt.filter(argv, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if f.Empty() {
				return usageError{fmt.Errorf("%s what? name message ids, ALL, - or filters", verb)}
			}
			p, err := a.paths()
			if err != nil {
				return err
			}
			c, err := admin.Dial(admin.SocketPath(p.Submit))
			if errors.Is(err, admin.ErrNotRunning) {
				return fmt.Errorf("%v: queue %s changes the queue through the daemon; start it (qmaild --root %s)", err, verb, p.Root)
			}
			if err != nil {
				return err
			}
			defer c.Close()
			if f.IDs != nil && len(f.IDs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: 0 messages, 0 recipients (no ids on stdin)\n", verb)
				return nil
			}
			n, err := c.Change(verb, f, dry)
			note := ""
			if dry {
				note = " (dry run: nothing changed)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d messages, %d recipients%s\n", verb, n.Messages, n.Recipients, note)
			return err
		},
	}
	flt.add(cmd, true)
	cmd.Flags().BoolVar(&dry, "dry-run", false, "count what would change, change nothing")
	return cmd
}
