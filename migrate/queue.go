// qmail's queue, as qmail-queue and qmail-send leave it, and as ScanQueue
// reads it.
//
// # Layout
//
// A message's id is the inode number of its mess file (qmail-queue makes
// the file under a temporary name, links it as its inode number). The
// split directories hold one file per message, in directory id mod split
// (split is conf-split, 23 unless qmail was built otherwise; ScanQueue
// counts mess/'s numbered directories):
//
//	mess/S/ID     the message as qmail-queue wrote it, its Received line first
//	info/S/ID     "F" sender NUL; its mtime is the message's birth
//	local/S/ID    the local recipients, rewritten: "T" rcpt NUL (not done) or "D" rcpt NUL (done)
//	remote/S/ID   the remote recipients, the same way
//	todo/ID       not yet preprocessed: "u" uid NUL "p" pid NUL "F" sender NUL "T" rcpt NUL ...
//	intd/ID       todo's envelope while qmail-queue writes it
//	bounce/ID     failures qmail-send has not yet put in a bounce
//
// # What becomes of each message
//
// A message in todo/ has not been preprocessed: qmail-send would remove
// any info, local and remote files and start again from todo, and so does
// the import. Its recipients are queued as given, and gqmail routes them
// (locals, virtualdomains) as qmail-send would have.
//
// Any other message with an info file is queued with its sender and only
// the recipients marked "T" in local/ and remote/, each on the channel
// qmail-send put it on and with the address it rewrote (a virtualdomains
// prefix included), so no recipient is delivered twice and none is lost.
// A message whose recipients are all "D" is finished and not queued.
//
// The arrival time is info's mtime (mess's for a message in todo/), so
// the retry schedule and the queue lifetime go on from the message's
// birth.
//
// # Damaged entries
//
// These are listed, each with the file and the reason, and left as they
// are; the rest of the queue is imported all the same:
//
//   - a file in mess/ whose name is not a number, or that is in the wrong
//     split directory;
//   - an info, local, remote, todo or intd file without its mess file;
//   - a mess file with neither info nor todo (qmail-send never saw it, or
//     finished it and was stopped before removing it), or with intd only
//     (qmail-queue was stopped before it acknowledged the message);
//   - a file that is not a regular file with one link: a symbolic link
//     (never followed, below the queue directory, for files and
//     directories alike), a hard link, a FIFO, a device (qfile.go);
//   - an unreadable file, an info that is not "F" sender NUL, a local,
//     remote or todo file with a record of another kind, without its
//     final NUL, or with an empty recipient.
//
// A bounce/ID file is reported as a warning: qmail-send had not yet sent
// the bounce for the recipients that failed, and gqmail does not.
//
// # What it never does
//
// ScanQueue and ImportQueue only read qmail's queue: nothing there is
// changed, moved or removed. Do not start qmail-send on it again after
// the import, or the imported mail would go out twice.

package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// QueueMessage is one message of qmail's queue that has recipients left.
type QueueMessage struct {
	// ID is qmail's message id, the name of its mess file.
	ID uint64
	// Mess is the path of the message file; Size its length.
	Mess string
	Size int64
	// Sender is the envelope sender ("" for a bounce, "#@[]" for a
	// double bounce).
	Sender string
	// Recipients are the recipients not yet done.
	Recipients []string
	// Routes, for a preprocessed message, holds the channel and address
	// qmail-send gave each of Recipients; nil for a message in todo/.
	Routes []route.Route
	// Done counts the recipients qmail had marked done.
	Done int
	// UID is the injecting uid from todo/, -1 for a preprocessed message.
	UID int
	// Arrived is the message's birth: info's mtime, or mess's.
	Arrived time.Time
	// Key is the store's import key: "qmail:<id>:<mess mtime ns>:<size>".
	Key string
}

// Preprocessed says whether qmail-send had preprocessed the message
// (info, local, remote) rather than left it in todo/.
func (m *QueueMessage) Preprocessed() bool { return m.Routes != nil }

// QueueProblem is a damaged entry, left in place, or a warning.
type QueueProblem struct {
	Path   string
	Reason string
}

func (p QueueProblem) String() string { return p.Path + ": " + p.Reason }

// QueueScan is what ScanQueue found.
type QueueScan struct {
	// Dir is the queue directory (QMAILHOME/queue); Split the number of
	// split directories found in mess/.
	Dir   string
	Split int
	// Messages have recipients left, in id order.
	Messages []QueueMessage
	// Finished counts messages all of whose recipients were done.
	Finished int
	// Damaged entries are not imported and stay where they are.
	Damaged []QueueProblem
	// Warnings concern messages that are imported (or finished) all the
	// same.
	Warnings []QueueProblem
}

// Recipients counts the recipients left in s.Messages.
func (s *QueueScan) Recipients() int {
	n := 0
	for i := range s.Messages {
		n += len(s.Messages[i].Recipients)
	}
	return n
}

// ErrQmailRunning is returned by CheckQmailStopped when qmail-send holds
// its lock.
var ErrQmailRunning = errors.New("qmail-send is running")

// CheckQmailStopped returns an error wrapping ErrQmailRunning when
// qmail-send holds queue/lock/sendmutex, which it locks exclusively for as
// long as it runs (with flock(2), or lockf(3) on a system without flock:
// both are tried). A missing sendmutex is no error. The test takes the lock
// for an instant and gives it back: a qmail-send starting in that instant
// would refuse to start. It says nothing of a qmail-send started after it.
func CheckQmailStopped(queueDir string) error {
	path := filepath.Join(queueDir, "lock", "sendmutex")
	f, _, err := openQueueFile(queueDir, "lock/sendmutex")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot tell whether qmail-send is running: %w", err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err == nil && lk.Type != unix.F_UNLCK {
		return fmt.Errorf("%w: process %d holds a lock on %s; stop qmail first (svc -d /service/qmail-send, or /etc/init.d/qmail stop)", ErrQmailRunning, lk.Pid, path)
	}
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); {
	case errors.Is(err, unix.EWOULDBLOCK):
		return fmt.Errorf("%w: it holds %s; stop qmail first (svc -d /service/qmail-send, or /etc/init.d/qmail stop)", ErrQmailRunning, path)
	case err != nil:
		return fmt.Errorf("cannot tell whether qmail-send is running: flock %s: %w", path, err)
	}
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

// ScanQueue reads the qmail queue at dir (QMAILHOME/queue) and sorts its
// messages into those to import, the finished ones and the damaged
// entries. It fails only when dir is not a qmail queue at all (no mess/
// with numbered directories) or cannot be listed.
func ScanQueue(dir string) (*QueueScan, error) {
	s := &QueueScan{Dir: dir}
	split, err := detectSplit(dir)
	if err != nil {
		return nil, err
	}
	s.Split = split
	mess, err := s.listSplit("mess", true)
	if err != nil {
		return nil, err
	}
	others := map[string]map[uint64]string{}
	for _, sub := range []string{"info", "local", "remote", "bounce"} {
		split := sub != "bounce"
		m, err := s.list(sub, split)
		if err != nil {
			return nil, err
		}
		others[sub] = m
	}
	for _, sub := range []string{"todo", "intd"} {
		m, err := s.list(sub, false)
		if err != nil {
			return nil, err
		}
		others[sub] = m
	}
	// Files of messages that have no mess file.
	for _, sub := range []string{"info", "local", "remote", "todo", "intd", "bounce"} {
		for _, id := range sortedIDs(others[sub]) {
			if _, ok := mess[id]; !ok {
				s.damaged(others[sub][id], fmt.Sprintf("no mess/%d/%d: the message itself is missing", id%uint64(split), id))
			}
		}
	}
	for _, id := range sortedIDs(mess) {
		s.message(id, mess[id], others)
	}
	return s, nil
}

// detectSplit counts the numbered directories of mess/, which qmail's
// install makes 0 .. conf-split-1.
func detectSplit(dir string) (int, error) {
	mess := filepath.Join(dir, "mess")
	entries, err := readQueueDir(dir, "mess")
	if err != nil {
		return 0, fmt.Errorf("not a qmail queue: %w", err)
	}
	seen := map[int]bool{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() || n < 0 || strconv.Itoa(n) != e.Name() {
			continue
		}
		seen[n] = true
	}
	if len(seen) == 0 {
		return 0, fmt.Errorf("not a qmail queue: %s has no numbered split directories", mess)
	}
	for i := range len(seen) {
		if !seen[i] {
			return 0, fmt.Errorf("qmail queue %s: split directories are not 0 to %d (%d is missing)", mess, len(seen)-1, i)
		}
	}
	return len(seen), nil
}

func (s *QueueScan) damaged(path, reason string) {
	s.Damaged = append(s.Damaged, QueueProblem{path, reason})
}

// listSplit lists sub/0 .. sub/split-1; mess names that are no message
// id, or that sit in the wrong directory, are damaged when report is set.
func (s *QueueScan) listSplit(sub string, report bool) (map[uint64]string, error) {
	out := map[uint64]string{}
	for d := range s.Split {
		dir := filepath.Join(s.Dir, sub, strconv.Itoa(d))
		entries, err := readQueueDir(s.Dir, sub+"/"+strconv.Itoa(d))
		if errors.Is(err, fs.ErrNotExist) && !report {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("qmail queue: %w", err)
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			id, err := strconv.ParseUint(e.Name(), 10, 64)
			switch {
			case err != nil || strconv.FormatUint(id, 10) != e.Name():
				if report {
					s.damaged(path, "not a qmail message file: the name is not a message id")
				}
				continue
			case id%uint64(s.Split) != uint64(d):
				if report {
					s.damaged(path, fmt.Sprintf("in the wrong split directory: message %d belongs in %s/%d/", id, sub, id%uint64(s.Split)))
				}
				continue
			}
			out[id] = path
		}
	}
	return out, nil
}

// list lists sub (split or not); a missing directory is empty.
func (s *QueueScan) list(sub string, split bool) (map[uint64]string, error) {
	if split {
		return s.listSplit(sub, false)
	}
	out := map[uint64]string{}
	dir := filepath.Join(s.Dir, sub)
	entries, err := readQueueDir(s.Dir, sub)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("qmail queue: %w", err)
	}
	for _, e := range entries {
		if id, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && strconv.FormatUint(id, 10) == e.Name() {
			out[id] = filepath.Join(dir, e.Name())
		}
	}
	return out, nil
}

func sortedIDs(m map[uint64]string) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// message sorts out message id, whose mess file is at messPath.
func (s *QueueScan) message(id uint64, messPath string, others map[string]map[uint64]string) {
	f, st, err := openQueueFile(s.Dir, s.rel(messPath))
	if err != nil {
		s.damaged(messPath, why(err, messPath))
		return
	}
	f.Close()
	mtime := time.Unix(st.Mtim.Unix())
	m := QueueMessage{ID: id, Mess: messPath, Size: st.Size, UID: -1, Arrived: mtime}
	m.Key = fmt.Sprintf("qmail:%d:%d:%d", id, mtime.UnixNano(), st.Size)
	if b := others["bounce"][id]; b != "" {
		s.Warnings = append(s.Warnings, QueueProblem{b, "qmail-send had not yet sent this bounce for the recipients that failed; gqmail will not send it"})
	}
	if todo := others["todo"][id]; todo != "" {
		data, _, err := readQueueFile(s.Dir, s.rel(todo))
		if err != nil {
			s.damaged(todo, why(err, todo))
			return
		}
		if m.UID, m.Sender, m.Recipients, err = parseTodo(data); err != nil {
			s.damaged(todo, err.Error())
			return
		}
		s.add(m)
		return
	}
	info := others["info"][id]
	if info == "" {
		if intd := others["intd"][id]; intd != "" {
			s.damaged(messPath, "intd/ but no todo/: qmail-queue was stopped before it accepted the message")
		} else {
			s.damaged(messPath, "neither info/ nor todo/: qmail-send has no record of this message (qmail-clean removes such files after 36 hours)")
		}
		return
	}
	data, ist, err := readQueueFile(s.Dir, s.rel(info))
	if err != nil {
		s.damaged(info, why(err, info))
		return
	}
	if m.Sender, err = parseInfo(data); err != nil {
		s.damaged(info, err.Error())
		return
	}
	m.Arrived = time.Unix(ist.Mtim.Unix())
	m.Routes = []route.Route{}
	for _, ch := range []struct {
		sub     string
		channel route.Channel
	}{{"local", route.Local}, {"remote", route.Remote}} {
		path := others[ch.sub][id]
		if path == "" {
			continue
		}
		data, _, err := readQueueFile(s.Dir, s.rel(path))
		if err != nil {
			s.damaged(path, why(err, path))
			return
		}
		pending, done, err := parseChannel(data)
		if err != nil {
			s.damaged(path, err.Error())
			return
		}
		m.Done += done
		for _, r := range pending {
			m.Recipients = append(m.Recipients, r)
			m.Routes = append(m.Routes, route.Route{Deliver: r, Channel: ch.channel})
		}
	}
	if len(m.Recipients) == 0 {
		s.Finished++
		return
	}
	s.add(m)
}

func (s *QueueScan) add(m QueueMessage) {
	if now := time.Now(); m.Arrived.After(now) {
		m.Arrived = now
	}
	s.Messages = append(s.Messages, m)
}

// records splits data into its NUL-ended records; the last must have its
// NUL, or the file was cut short.
func records(data []byte) ([][]byte, error) {
	if len(data) == 0 {
		return nil, errors.New("empty file")
	}
	if data[len(data)-1] != 0 {
		return nil, errors.New("malformed envelope: the last record has no final NUL (file cut short?)")
	}
	return bytes.Split(data[:len(data)-1], []byte{0}), nil
}

// parseInfo reads info/S/ID: "F" sender NUL.
func parseInfo(data []byte) (string, error) {
	recs, err := records(data)
	if err != nil {
		return "", err
	}
	if len(recs) != 1 || len(recs[0]) == 0 || recs[0][0] != 'F' {
		return "", fmt.Errorf("malformed info: want F<sender>\\0, have %q", truncate(string(data)))
	}
	return string(recs[0][1:]), nil
}

// parseChannel reads local/S/ID or remote/S/ID: "T" or "D", a recipient,
// NUL, for each recipient.
func parseChannel(data []byte) (pending []string, done int, err error) {
	recs, err := records(data)
	if err != nil {
		return nil, 0, err
	}
	for i, r := range recs {
		if len(r) == 0 || r[0] != 'T' && r[0] != 'D' {
			return nil, 0, fmt.Errorf("malformed envelope: record %d is %q, want T<rcpt> or D<rcpt>", i+1, truncate(string(r)))
		}
		if len(r) == 1 {
			return nil, 0, fmt.Errorf("malformed envelope: record %d has an empty recipient", i+1)
		}
		if r[0] == 'T' {
			pending = append(pending, string(r[1:]))
		} else {
			done++
		}
	}
	return pending, done, nil
}

// parseTodo reads todo/ID: "u" uid, "p" pid, "F" sender, then "T" rcpt
// records, each ended by NUL.
func parseTodo(data []byte) (uid int, sender string, rcpts []string, err error) {
	recs, err := records(data)
	if err != nil {
		return 0, "", nil, err
	}
	uid = -1
	haveSender := false
	for i, r := range recs {
		if len(r) == 0 {
			return 0, "", nil, fmt.Errorf("malformed envelope: record %d is empty", i+1)
		}
		switch r[0] {
		case 'u':
			n, err := strconv.Atoi(string(r[1:]))
			if err != nil || n < 0 {
				return 0, "", nil, fmt.Errorf("malformed envelope: record %d: uid %q is not a number", i+1, truncate(string(r[1:])))
			}
			uid = n
		case 'p':
		case 'F':
			if haveSender {
				return 0, "", nil, fmt.Errorf("malformed envelope: record %d: a second sender", i+1)
			}
			sender, haveSender = string(r[1:]), true
		case 'T':
			if !haveSender {
				return 0, "", nil, fmt.Errorf("malformed envelope: record %d: a recipient before the sender", i+1)
			}
			if len(r) == 1 {
				return 0, "", nil, fmt.Errorf("malformed envelope: record %d has an empty recipient", i+1)
			}
			rcpts = append(rcpts, string(r[1:]))
		default:
			return 0, "", nil, fmt.Errorf("malformed envelope: record %d is %q, want u, p, F or T", i+1, truncate(string(r)))
		}
	}
	if !haveSender {
		return 0, "", nil, errors.New("malformed envelope: no F<sender> record")
	}
	if len(rcpts) == 0 {
		return 0, "", nil, errors.New("malformed envelope: no T<rcpt> record")
	}
	return uid, sender, rcpts, nil
}

// QueueImport is what ImportQueue did.
type QueueImport struct {
	// Queued messages and their recipients; Skipped messages were
	// queued by an earlier import.
	Queued, Recipients, Skipped int
	// Failed lists the messages that could not be read or queued now,
	// with the reason; they stay in qmail's queue.
	Failed []QueueProblem
}

// ImportOptions tune ImportQueue.
type ImportOptions struct {
	// Workers is how many messages are queued at once (their commits
	// are shared); zero means 128.
	Workers int
	// Progress, when set, is called after each message, from the
	// workers' goroutines, one call at a time.
	Progress func(done int)
}

// ImportQueue queues every message of scan into db, each with its import
// key, so a message imported before is skipped and counted in Skipped. A
// message that cannot be read now is listed in Failed and the rest go on;
// the error is for a failure of the queue itself (a full disk), after
// which ImportQueue stops at once. Messages queued before an error stay
// queued: an import run again goes on where this one stopped.
func ImportQueue(ctx context.Context, db *store.DB, scan *QueueScan, opts ImportOptions) (*QueueImport, error) {
	return ImportQueueTo(ctx, StoreQueuer{db}, scan, opts)
}

// Queuer queues one message of qmail's queue: StoreQueuer in this
// process, or a QueueWriterClient, whose queue-writer child does it as the
// owner of the root's queue.
type Queuer interface {
	// Queue queues m, reading its body from body (the mess file, opened
	// by ImportQueue, at its start), unless m.Key was imported before
	// (skipped). problem is a failure of m alone, err one of the queue.
	Queue(ctx context.Context, m *QueueMessage, body *os.File) (skipped bool, problem string, err error)
}

// ImportQueueTo is ImportQueue into q. It opens each mess file itself
// (OpenMess), so q only ever reads a descriptor.
func ImportQueueTo(ctx context.Context, q Queuer, scan *QueueScan, opts ImportOptions) (*QueueImport, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = 128
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		res      QueueImport
		firstErr error
		done     int
		wg       sync.WaitGroup
	)
	next := make(chan *QueueMessage)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range next {
				skipped, problem, err := importOne(ctx, q, scan, m)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = fmt.Errorf("qmail message %d (%s): %w", m.ID, m.Mess, err)
					}
					cancel()
				case problem != "":
					res.Failed = append(res.Failed, QueueProblem{m.Mess, problem})
				case skipped:
					res.Skipped++
				default:
					res.Queued++
					res.Recipients += len(m.Recipients)
				}
				done++
				if opts.Progress != nil {
					opts.Progress(done)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range scan.Messages {
		select {
		case next <- &scan.Messages[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	slices.SortFunc(res.Failed, func(a, b QueueProblem) int { return cmpString(a.Path, b.Path) })
	return &res, firstErr
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// importOne opens m's mess file and hands it to q. A mess file that
// cannot be opened, or changed since the scan, is a problem for m alone.
func importOne(ctx context.Context, q Queuer, scan *QueueScan, m *QueueMessage) (skipped bool, problem string, err error) {
	f, err := scan.OpenMess(m)
	if err != nil {
		return false, why(err, m.Mess), nil
	}
	defer f.Close()
	return q.Queue(ctx, m, f)
}

// StoreQueuer queues into a queue database this process holds.
type StoreQueuer struct{ DB *store.DB }

// Queue queues m unless its key is recorded, reading its body from f.
func (q StoreQueuer) Queue(ctx context.Context, m *QueueMessage, f *os.File) (skipped bool, problem string, err error) {
	db := q.DB
	if _, ok, err := db.Imported(m.Key); err != nil || ok {
		return ok, "", err
	}
	msg := &store.NewMessage{
		Sender:     m.Sender,
		Recipients: m.Recipients,
		Routes:     m.Routes,
		Origin:     store.Origin{Kind: "qmail", UID: m.UID},
		Received:   m.Arrived,
		ImportKey:  m.Key,
	}
	if m.Size <= store.InlineMax {
		body, err := io.ReadAll(io.LimitReader(f, store.InlineMax+1))
		if err != nil {
			return false, err.Error(), nil
		}
		if int64(len(body)) != m.Size {
			return false, fmt.Sprintf("changed since the scan (%d bytes, now %d)", m.Size, len(body)), nil
		}
		msg.Body = body
	} else {
		sp := db.NewSpool()
		n, err := io.Copy(sp, readerOnly{f})
		if err != nil {
			sp.Discard()
			var re readError
			if errors.As(err, &re) {
				return false, re.Error(), nil // qmail's file: this message alone
			}
			return false, "", err // the spool's: the queue itself
		}
		if n != m.Size {
			sp.Discard()
			return false, fmt.Sprintf("changed since the scan (%d bytes, now %d)", m.Size, n), nil
		}
		msg.Spool = sp
	}
	if _, err := db.Accept(ctx, msg); err != nil {
		return false, "", err
	}
	return false, "", nil
}

// readerOnly hides the file's WriterTo, so that io.Copy reads through Read
// and a read error can be told from a write error.
type readerOnly struct{ f *os.File }

func (r readerOnly) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}

// readError is an error reading a file of qmail's queue.
type readError struct{ error }

func (e readError) Unwrap() error { return e.error }
