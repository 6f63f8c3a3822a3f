// Package control reads qmail's control files (QMAILHOME/control) and keeps
// them live: every accessor looks at the file again and returns its current
// value, re-parsing only when the file changed.
//
// The package owns the parsing rules and the built-in defaults of the control
// files listed below, so that no other package reads them itself. It
// guarantees that an accessor always returns a usable value: the
// file's current value, or, when the file became unreadable or malformed,
// the last good value it had, or, when it never had one, the built-in
// default. It never falls back to anything more permissive than the file
// being absent. Problems are reported through the warn function given to
// Open, once for each bad version of a file, and by Check, which a daemon
// calls at start to refuse a broken configuration.
//
// # Files and absence
//
// A file that does not exist (ENOENT) is absent, which is never an error: it
// selects the default. Deleting a file is a legitimate change back to the
// default. A file that exists but cannot be read (permission denied, I/O
// error, a directory, anything other than a regular file) or that is
// malformed is an error. The file is looked at with stat(2) on every call; a
// change of inode, size, modification or change time makes it read again, and
// a file changed less than two seconds before it was read is read again on
// the next call as well, because a second write within the file system's
// timestamp granularity could otherwise go unseen.
//
// # Single-value files
//
// me, bouncefrom, bouncehost, defaultdomain, defaulthost, doublebouncehost,
// doublebounceto, envnoathost, helohost, idhost, localiphost, plusdomain,
// smtpgreeting. Only the first line counts. Trailing spaces, tabs and CRs are
// removed, leading whitespace is kept. An existing empty file is the empty
// string, not the default. These files are never malformed.
//
// # Integer files
//
// concurrencylocal, concurrencyremote, databytes, queuelifetime,
// timeoutconnect, timeoutremote, timeoutsmtpd. The first line, without
// trailing spaces, tabs and CRs, must be optional leading spaces or tabs and
// then decimal digits that fit in 63 bits. Unlike qmail, which reads the
// leading digits of "20abc" as 20, anything else (a sign, a unit, trailing
// text, an empty file) is malformed. Timeouts are seconds, and a timeout of 0
// is one second: in qmail 0 means "give up at once", while a zero
// time.Duration in Go means "never".
//
// # List files
//
// locals, rcpthosts, morercpthosts, badmailfrom. One entry a line. Trailing
// spaces, tabs and CRs are removed; empty lines and lines whose first byte is
// '#' are skipped. A line with leading whitespace, whitespace inside the
// entry, or a control character is malformed (qmail would keep the
// whitespace as part of the entry, which never matches anything).
//
// In locals, rcpthosts and morercpthosts an entry is a host name (letters,
// digits, '-', '.', '_') or an address literal in brackets ("[192.0.2.1]",
// digits, letters, '.', ':' inside). rcpthosts and morercpthosts also allow a
// leading '.', which matches every host below that domain but not the domain
// itself. morercpthosts is a plain text file here (qmail compiles it into
// morercpthosts.cdb); its entries count only when rcpthosts exists.
//
// In badmailfrom an entry is an address ("spam@example.com") or "@" and a
// domain ("@example.com"), which refuses every sender at that domain.
//
// Entries are stored in ASCII lower case and all lookups ignore ASCII case.
//
// # Colon files
//
// virtualdomains and smtproutes are list files whose entries are key:value.
// The key is the text before the first ':' and the value everything after it;
// a line without a ':' is malformed (qmail ignores it). When a key appears
// twice the last line wins, as in qmail.
//
// virtualdomains keys are "user@domain", "domain", ".suffix" or empty (the
// line ":prepend" catches every domain). The value is the prepend; an empty
// prepend is an exception that makes the domain remote. Lookup order: the
// whole address, the domain, each '.' suffix of the domain longest first,
// then the empty key.
//
// authsenders lines are "login:address" or "login:@domain": the envelope
// senders an SMTP AUTH login may use beyond its own addresses (gqmail's;
// qmail has no AUTH).
//
// smtproutes keys are a host, ".suffix" or empty. The value is "relay",
// "relay:port" (port 1..65535) or empty, which means "look up MX records as
// if there were no route". Lookup order: the host, each '.' suffix longest
// first, then the empty key.
//
// # Defaults
//
// Many host-name files default to me: when the file is absent and me exists
// its value is used (even when empty), and only when me is absent too the
// literal name of the file ("bouncehost", "idhost", ...) is. helohost,
// smtpgreeting and localiphost have no literal; their accessors report that
// neither file exists. locals defaults to a set holding me. bouncefrom
// defaults to "MAILER-DAEMON", doublebounceto to "postmaster", databytes to 0
// (no limit), concurrencylocal to 10 and concurrencyremote to 20 (both capped
// at 120), queuelifetime to 604800 seconds, timeoutconnect to 60,
// timeoutremote and timeoutsmtpd to 1200 seconds.
package control

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// FileError describes a control file that could not be read or is
// malformed. Line is 0 when the problem is not on one line.
type FileError struct {
	File string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Dir reads the control files of one directory. It is safe for concurrent
// use; the values it returns are never modified afterwards and may be kept.
type Dir struct {
	dir  string
	warn func(error)

	mu      sync.Mutex
	files   map[string]*entry
	pending []error // warnings to deliver once mu is released
	rcpt    derived // rcpthosts merged with morercpthosts
	locals  derived // locals, or me when locals is absent
}

// entry is the cache of one control file.
type entry struct {
	parse func([]byte) (any, *FileError)

	seen  bool  // stamp describes a version already looked at
	stamp stamp // of the version last looked at
	racy  bool  // that version was changed too recently to trust stamp
	sum   [sha256.Size]byte
	// hasSum says sum is the content of the version last looked at, so that
	// a version read again unchanged is neither parsed nor warned about twice.
	hasSum bool

	value any    // last good value; nil when the file was absent or never good
	gen   uint64 // counts changes of value, for derived caches
	bad   error  // why the version last looked at is unusable, or nil
}

// derived caches a value computed from two entries.
type derived struct {
	valid bool
	gens  [2]uint64
	set   DomainSet
}

// racyWindow is how long after a change a file keeps being read again on
// every call. Two seconds covers the coarsest timestamps seen on Linux file
// systems that matter here.
const racyWindow = 2 * time.Second

// Open returns a Dir for the control directory at path. It reads nothing
// yet. warn is called with a *FileError for each version of a control file
// that could not be read or is malformed, the first time a method other than
// Check looks at it; it may be called from any goroutine, never while the Dir
// is locked, and may be nil.
func Open(path string, warn func(error)) *Dir {
	if warn == nil {
		warn = func(error) {}
	}
	d := &Dir{dir: path, warn: warn, files: map[string]*entry{}}
	for _, f := range files() {
		d.files[f.name] = &entry{parse: f.parse}
	}
	return d
}

// Names returns the names of the control files the package reads, in a
// fixed order: the one-line settings, the numbers, then the lists.
func Names() []string {
	var names []string
	for _, f := range files() {
		names = append(names, f.name)
	}
	return names
}

// file is a control file the package reads, with its parser.
type file struct {
	name  string
	parse func([]byte) (any, *FileError)
}

// files lists every control file the package reads, in Names's order.
func files() []file {
	var fs []file
	single := func(data []byte) (any, *FileError) { return parseSingle(data), nil }
	for _, name := range []string{"me", "bouncefrom", "bouncehost",
		"defaultdomain", "defaulthost", "doublebouncehost", "doublebounceto",
		"envnoathost", "helohost", "idhost", "localiphost", "plusdomain",
		"smtpgreeting"} {
		fs = append(fs, file{name, single})
	}
	integer := adapt(parseInt)
	for _, name := range []string{"concurrencylocal", "concurrencyremote",
		"databytes", "queuelifetime", "timeoutconnect", "timeoutremote",
		"timeoutsmtpd"} {
		fs = append(fs, file{name, integer})
	}
	return append(fs,
		file{"locals", adapt(parseLocals)},
		file{"rcpthosts", adapt(parseRcptHosts)},
		file{"morercpthosts", adapt(parseRcptHosts)},
		file{"badmailfrom", adapt(parseBadMailFrom)},
		file{"authsenders", adapt(parseAuthSenders)},
		file{"virtualdomains", adapt(parseVirtualDomains)},
		file{"smtproutes", adapt(parseSMTPRoutes)},
	)
}

func adapt[T any](parse func([]byte) (T, *FileError)) func([]byte) (any, *FileError) {
	return func(data []byte) (any, *FileError) {
		v, err := parse(data)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

// Path returns the path of the named control file.
func (d *Dir) Path(name string) string { return filepath.Join(d.dir, name) }

// Check reads every control file this package knows and returns an error
// naming the file, and the line when there is one, for each file whose
// current version is unreadable or malformed, joined with errors.Join; it
// also fails when the directory itself is missing, since a mistyped path
// would otherwise run on defaults. It reports through its result instead of
// warn. A daemon calls it at start and refuses to start when it fails.
func (d *Dir) Check() error {
	var errs []error
	if fi, err := os.Stat(d.dir); err != nil {
		errs = append(errs, &FileError{File: d.dir, Err: pathCause(err)})
	} else if !fi.IsDir() {
		errs = append(errs, &FileError{File: d.dir, Err: errors.New("not a directory")})
	}
	d.mu.Lock()
	defer d.unlock()
	names := make([]string, 0, len(d.files))
	for name := range d.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := d.files[name]
		d.refresh(name, e, true)
		if e.bad != nil {
			errs = append(errs, e.bad)
		}
	}
	return errors.Join(errs...)
}

// unlock releases mu and then delivers the warnings gathered while it was
// held, so that warn may call back into d.
func (d *Dir) unlock() {
	pending := d.pending
	d.pending = nil
	d.mu.Unlock()
	for _, err := range pending {
		d.warn(err)
	}
}

// load brings the named file's cache up to date and returns it. d.mu must be
// held.
func (d *Dir) load(name string) *entry {
	e := d.files[name]
	d.refresh(name, e, false)
	return e
}

// refresh looks at the file again and re-reads it if it changed. quiet keeps
// a new problem out of the warnings, for Check, which returns it instead.
func (d *Dir) refresh(name string, e *entry, quiet bool) {
	path := d.Path(name)
	now := time.Now()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		e.setAbsent()
		return
	}
	if err != nil {
		d.setBad(e, stamp{err: err.Error()}, &FileError{File: path, Err: pathCause(err)}, quiet)
		return
	}
	if e.seen && !e.racy && stampOf(fi) == e.stamp {
		return
	}

	data, st, err := readRegular(path, stampOf(fi))
	if errors.Is(err, fs.ErrNotExist) {
		e.setAbsent()
		return
	}
	e.racy = st.recent(now)
	if err != nil {
		e.hasSum = false
		d.setBad(e, st, &FileError{File: path, Err: pathCause(err)}, quiet)
		return
	}
	sum := sha256.Sum256(data)
	if e.hasSum && sum == e.sum {
		e.stamp, e.seen = st, true
		return
	}
	e.sum, e.hasSum = sum, true
	v, perr := e.parse(data)
	if perr != nil {
		perr.File = path
		d.setBad(e, st, perr, quiet)
		return
	}
	e.stamp, e.seen = st, true
	e.value, e.bad = v, nil
	e.gen++
}

func (e *entry) setAbsent() {
	if e.seen && e.stamp == (stamp{absent: true}) {
		return
	}
	e.stamp, e.seen, e.racy, e.hasSum = stamp{absent: true}, true, false, false
	e.bad = nil
	if e.value != nil {
		e.value = nil
		e.gen++
	}
}

// setBad records that the version with stamp st is unusable and keeps the
// last good value. The same version is reported only once.
func (d *Dir) setBad(e *entry, st stamp, err *FileError, quiet bool) {
	if e.seen && e.stamp == st && e.bad != nil {
		return
	}
	e.stamp, e.seen, e.bad = st, true, err
	if !quiet {
		d.pending = append(d.pending, err)
	}
}

// pathCause strips the path from an *fs.PathError, which FileError already
// names, keeping the operation and the cause for errors.Is.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// readRegular reads the file at path and returns the stamp of what it read,
// or statStamp, the stamp of the path, when it cannot open the file. It
// refuses anything but a regular file, so that a FIFO or a device put in
// place of a control file cannot block or flood the reader.
func readRegular(path string, statStamp stamp) ([]byte, stamp, error) {
	f, err := openNonblock(path)
	if err != nil {
		return nil, statStamp, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, statStamp, err
	}
	st := stampOf(fi)
	if !fi.Mode().IsRegular() {
		return nil, st, fmt.Errorf("not a regular file (mode %v)", fi.Mode())
	}
	data, err := io.ReadAll(f)
	return data, st, err
}
