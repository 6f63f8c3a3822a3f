package control

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/fixtures"
)

// scratch returns an empty control directory that is removed after the test,
// unless the test failed: then it is kept and its path printed.

// warnings records what a Dir passes to warn.
type warnings struct {
	mu   sync.Mutex
	errs []error
}

func (w *warnings) warn(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, err)
}

func (w *warnings) take() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	errs := w.errs
	w.errs = nil
	return errs
}

// open returns a Dir on a scratch directory holding files.
func open(t *testing.T, files map[string]string) (*Dir, *warnings) {
	t.Helper()
	dir := fixtures.Scratch(t)
	for name, content := range files {
		write(t, dir, name, content)
	}
	w := &warnings{}
	return Open(dir, w.warn), w
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultsWhenEverythingIsAbsent(t *testing.T) {
	d, w := open(t, nil)
	strs := []struct {
		name string
		got  func() string
		want string
	}{
		{"defaultdomain", d.DefaultDomain, "defaultdomain"},
		{"defaulthost", d.DefaultHost, "defaulthost"},
		{"plusdomain", d.PlusDomain, "plusdomain"},
		{"envnoathost", d.EnvNoAtHost, "envnoathost"},
		{"idhost", d.IDHost, "idhost"},
		{"bouncefrom", d.BounceFrom, "MAILER-DAEMON"},
		{"bouncehost", d.BounceHost, "bouncehost"},
		{"doublebouncehost", d.DoubleBounceHost, "doublebouncehost"},
		{"doublebounceto", d.DoubleBounceTo, "postmaster"},
	}
	for _, c := range strs {
		if got := c.got(); got != c.want {
			t.Errorf("%s = %q, want %q", c.name, got, c.want)
		}
	}
	optional := []struct {
		name string
		got  func() (string, bool)
	}{
		{"me", d.Me}, {"helohost", d.HeloHost}, {"smtpgreeting", d.SMTPGreeting}, {"localiphost", d.LocalIPHost},
	}
	for _, c := range optional {
		if s, ok := c.got(); ok || s != "" {
			t.Errorf("%s = %q, %v; want absent", c.name, s, ok)
		}
	}
	durations := []struct {
		name string
		got  func() time.Duration
		want time.Duration
	}{
		{"queuelifetime", d.QueueLifetime, 604800 * time.Second},
		{"timeoutsmtpd", d.TimeoutSMTPD, 1200 * time.Second},
		{"timeoutconnect", d.TimeoutConnect, 60 * time.Second},
		{"timeoutremote", d.TimeoutRemote, 1200 * time.Second},
	}
	for _, c := range durations {
		if got := c.got(); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := d.Databytes(); got != 0 {
		t.Errorf("databytes = %d, want 0", got)
	}
	if got := d.ConcurrencyLocal(); got != 10 {
		t.Errorf("concurrencylocal = %d, want 10", got)
	}
	if got := d.ConcurrencyRemote(); got != 20 {
		t.Errorf("concurrencyremote = %d, want 20", got)
	}
	if got := d.Locals(); got.Len() != 0 {
		t.Errorf("locals has %d entries, want none", got.Len())
	}
	if set, ok := d.RcptHosts(); ok || set.Len() != 0 {
		t.Errorf("rcpthosts = %d entries, present %v; want absent", set.Len(), ok)
	}
	if d.VirtualDomains().Len() != 0 || d.SMTPRoutes().Len() != 0 || d.BadMailFrom().Len() != 0 {
		t.Errorf("colon or list files not empty when absent")
	}
	if err := d.Check(); err != nil {
		t.Errorf("Check on an empty directory: %v", err)
	}
	if errs := w.take(); len(errs) != 0 {
		t.Errorf("absent files warned: %v", errs)
	}
}

func TestHostNamesFallBackToMe(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		get   func(*Dir) string
		want  string
	}{
		{"me stands in for an absent bouncehost", map[string]string{"me": "mx.example.org\n"}, (*Dir).BounceHost, "mx.example.org"},
		{"an existing bouncehost beats me", map[string]string{"me": "mx.example.org\n", "bouncehost": "b.example.org\n"}, (*Dir).BounceHost, "b.example.org"},
		{"an empty me is used as it is", map[string]string{"me": ""}, (*Dir).IDHost, ""},
		{"an empty defaultdomain does not fall back to me", map[string]string{"me": "mx.example.org", "defaultdomain": "\n"}, (*Dir).DefaultDomain, ""},
		{"bouncefrom does not fall back to me", map[string]string{"me": "mx.example.org"}, (*Dir).BounceFrom, "MAILER-DAEMON"},
		{"doublebounceto does not fall back to me", map[string]string{"me": "mx.example.org"}, (*Dir).DoubleBounceTo, "postmaster"},
		{"me stands in for envnoathost", map[string]string{"me": "mx.example.org"}, (*Dir).EnvNoAtHost, "mx.example.org"},
		{"helohost beats me", map[string]string{"me": "mx.example.org", "helohost": "out.example.org"}, func(d *Dir) string { s, _ := d.HeloHost(); return s }, "out.example.org"},
		{"me stands in for smtpgreeting", map[string]string{"me": "mx.example.org"}, func(d *Dir) string { s, _ := d.SMTPGreeting(); return s }, "mx.example.org"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := open(t, c.files)
			if got := c.get(d); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestSingleValueFilesUseTheFirstLine(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"a plain line", "mx.example.org\n", "mx.example.org"},
		{"a line without a newline", "mx.example.org", "mx.example.org"},
		{"trailing spaces tabs and CR are stripped", "mx.example.org \t\r\n", "mx.example.org"},
		{"leading whitespace is kept", "  mx.example.org\n", "  mx.example.org"},
		{"later lines are ignored", "mx.example.org\nother\n", "mx.example.org"},
		{"an empty file is the empty string", "", ""},
		{"an empty first line is the empty string", "\nmx.example.org\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := open(t, map[string]string{"me": c.content})
			got, ok := d.Me()
			if got != c.want || !ok {
				t.Errorf("Me() = %q, %v; want %q, true", got, ok, c.want)
			}
		})
	}
}

func TestIntegerFiles(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		content string
		get     func(*Dir) int64
		want    int64
		badLine int // 0 when the file is good
	}{
		{"databytes is read in bytes", "databytes", "1048576\n", (*Dir).Databytes, 1048576, 0},
		{"leading whitespace is allowed", "databytes", " \t42 \r\n", (*Dir).Databytes, 42, 0},
		{"later lines are ignored", "databytes", "42\nrubbish\n", (*Dir).Databytes, 42, 0},
		{"trailing text is malformed", "databytes", "20abc\n", (*Dir).Databytes, 0, 1},
		{"a sign is malformed", "databytes", "-5\n", (*Dir).Databytes, 0, 1},
		{"an empty file is malformed", "databytes", "", (*Dir).Databytes, 0, 1},
		{"a number too large is malformed", "databytes", "99999999999999999999\n", (*Dir).Databytes, 0, 1},
		{"concurrencylocal is capped at 120", "concurrencylocal", "500\n", func(d *Dir) int64 { return int64(d.ConcurrencyLocal()) }, 120, 0},
		{"concurrencyremote 0 holds deliveries", "concurrencyremote", "0\n", func(d *Dir) int64 { return int64(d.ConcurrencyRemote()) }, 0, 0},
		{"a malformed concurrencyremote keeps the default", "concurrencyremote", "lots\n", func(d *Dir) int64 { return int64(d.ConcurrencyRemote()) }, 20, 1},
		{"timeoutsmtpd 0 becomes one second", "timeoutsmtpd", "0\n", func(d *Dir) int64 { return int64(d.TimeoutSMTPD()) }, int64(time.Second), 0},
		{"timeoutconnect 0 becomes one second", "timeoutconnect", "0\n", func(d *Dir) int64 { return int64(d.TimeoutConnect()) }, int64(time.Second), 0},
		{"timeoutremote is in seconds", "timeoutremote", "30\n", func(d *Dir) int64 { return int64(d.TimeoutRemote()) }, int64(30 * time.Second), 0},
		{"queuelifetime saturates instead of overflowing", "queuelifetime", "9223372036854775807\n", func(d *Dir) int64 { return int64(d.QueueLifetime()) }, 1<<63 - 1, 0},
		{"queuelifetime 0 stays 0", "queuelifetime", "0\n", func(d *Dir) int64 { return int64(d.QueueLifetime()) }, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, w := open(t, map[string]string{c.file: c.content})
			if got := c.get(d); got != c.want {
				t.Errorf("got %d, want %d", got, c.want)
			}
			errs := w.take()
			if c.badLine == 0 {
				if len(errs) != 0 {
					t.Errorf("warned %v, want nothing", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("warned %v, want one warning", errs)
			}
			wantFileError(t, errs[0], d.Path(c.file), c.badLine)
		})
	}
}

// wantFileError fails unless err is a *FileError for file and line.
func wantFileError(t *testing.T, err error, file string, line int) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
	if fe.File != file || fe.Line != line {
		t.Errorf("error %q names %s line %d, want %s line %d", err, fe.File, fe.Line, file, line)
	}
}

func TestFileErrorText(t *testing.T) {
	cause := errors.New(`not a decimal number: "12x"`)
	cases := []struct {
		name string
		err  *FileError
		want string
	}{
		{"a line is named when known", &FileError{"control/databytes", 1, cause}, `control/databytes line 1: not a decimal number: "12x"`},
		{"no line for a whole-file problem", &FileError{"control/locals", 0, fs.ErrPermission}, "control/locals: permission denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Errorf("Error() = %q, want %q", got, c.want)
			}
			if !errors.Is(c.err, c.err.Err) {
				t.Errorf("errors.Is does not reach the cause")
			}
		})
	}
}

func TestChangedFileIsSeenWithoutANewDir(t *testing.T) {
	d, w := open(t, map[string]string{"databytes": "1000\n", "rcpthosts": "example.org\n"})
	if got := d.Databytes(); got != 1000 {
		t.Fatalf("databytes = %d, want 1000", got)
	}
	write(t, d.dir, "databytes", "2000\n") // same size: seen through the recent-change rule
	if got := d.Databytes(); got != 2000 {
		t.Errorf("after rewrite with the same size, databytes = %d, want 2000", got)
	}
	old := time.Now().Add(-time.Hour)
	write(t, d.dir, "databytes", "30000\n")
	if err := os.Chtimes(d.Path("databytes"), old, old); err != nil {
		t.Fatal(err)
	}
	if got := d.Databytes(); got != 30000 {
		t.Errorf("after rewrite with an old mtime, databytes = %d, want 30000", got)
	}

	set, _ := d.RcptHosts()
	if set.MatchRcptHost("example.net") {
		t.Fatalf("example.net accepted before it was added")
	}
	write(t, d.dir, "rcpthosts", "example.org\nexample.net\n")
	if set, _ := d.RcptHosts(); !set.MatchRcptHost("example.net") {
		t.Errorf("example.net not accepted after it was added")
	}
	write(t, d.dir, "morercpthosts", ".example.com\n")
	if set, _ := d.RcptHosts(); !set.MatchRcptHost("mx.example.com") {
		t.Errorf("mx.example.com not accepted after morercpthosts was added")
	}
	if set, _ := d.RcptHosts(); set.MatchRcptHost(".example.com") || set.MatchRcptHost(".Example.COM") {
		t.Errorf("the wildcard entry .example.com accepted itself as a domain")
	}
	if errs := w.take(); len(errs) != 0 {
		t.Errorf("warned %v", errs)
	}
}

func TestReplacedFileIsSeen(t *testing.T) {
	d, _ := open(t, map[string]string{"me": "one.example.org\n"})
	if got, _ := d.Me(); got != "one.example.org" {
		t.Fatalf("Me() = %q", got)
	}
	tmp := filepath.Join(d.dir, "me.tmp")
	if err := os.WriteFile(tmp, []byte("two.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, d.Path("me")); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Me(); got != "two.example.org" {
		t.Errorf("after rename, Me() = %q, want two.example.org", got)
	}
}

func TestDeletedFileFallsBackToTheDefault(t *testing.T) {
	d, w := open(t, map[string]string{"concurrencyremote": "5\n"})
	if got := d.ConcurrencyRemote(); got != 5 {
		t.Fatalf("concurrencyremote = %d, want 5", got)
	}
	if err := os.Remove(d.Path("concurrencyremote")); err != nil {
		t.Fatal(err)
	}
	if got := d.ConcurrencyRemote(); got != 20 {
		t.Errorf("after removal, concurrencyremote = %d, want the default 20", got)
	}
	if errs := w.take(); len(errs) != 0 {
		t.Errorf("removal warned %v", errs)
	}
}

func TestBrokenFileKeepsLastGoodValueAndWarnsOnce(t *testing.T) {
	d, w := open(t, map[string]string{
		"databytes": "1000\n",
		"rcpthosts": "example.org\n.example.net\n",
	})
	if got := d.Databytes(); got != 1000 {
		t.Fatalf("databytes = %d, want 1000", got)
	}
	if set, ok := d.RcptHosts(); !ok || set.Len() != 2 {
		t.Fatalf("rcpthosts = %d entries, present %v", set.Len(), ok)
	}

	write(t, d.dir, "databytes", "12x\n")
	write(t, d.dir, "rcpthosts", "example.org\n# comment\nbad host\n")
	for range 3 {
		if got := d.Databytes(); got != 1000 {
			t.Errorf("broken databytes = %d, want the last good 1000", got)
		}
		set, ok := d.RcptHosts()
		if !ok || !set.MatchRcptHost("mx.example.net") {
			t.Errorf("broken rcpthosts lost the last good set (present %v, %d entries)", ok, set.Len())
		}
	}
	errs := w.take()
	if len(errs) != 2 {
		t.Fatalf("warned %d times (%v), want once for each file", len(errs), errs)
	}
	wantFileError(t, errs[0], d.Path("databytes"), 1)
	if want := `databytes line 1: not a decimal number: "12x"`; !strings.HasSuffix(errs[0].Error(), want) {
		t.Errorf("warning %q does not end in %q", errs[0], want)
	}
	wantFileError(t, errs[1], d.Path("rcpthosts"), 3)
	if err := d.Check(); err == nil {
		t.Errorf("Check passed with broken files")
	}

	// The same broken content written again is the same problem.
	write(t, d.dir, "databytes", "12x\n")
	d.Databytes()
	if errs := w.take(); len(errs) != 0 {
		t.Errorf("rewriting the same broken content warned again: %v", errs)
	}
	// A different broken version is a new problem.
	write(t, d.dir, "databytes", "12y\n")
	if got := d.Databytes(); got != 1000 {
		t.Errorf("databytes = %d, want the last good 1000", got)
	}
	if errs := w.take(); len(errs) != 1 {
		t.Errorf("a new broken version warned %d times, want once", len(errs))
	}
	write(t, d.dir, "databytes", "3000\n")
	if got := d.Databytes(); got != 3000 {
		t.Errorf("repaired databytes = %d, want 3000", got)
	}
}

func TestNeverGoodFileFailsCheckAndUsesTheDefault(t *testing.T) {
	d, w := open(t, map[string]string{
		"timeoutsmtpd":   "20abc\n",
		"smtproutes":     "example.org:relay.example.net:25\nexample.com:relay.example.net:99999\n",
		"virtualdomains": "example.org:alice\n",
	})
	err := d.Check()
	if err == nil {
		t.Fatal("Check passed with malformed files")
	}
	for _, want := range []string{
		d.Path("timeoutsmtpd") + ` line 1: not a decimal number: "20abc"`,
		d.Path("smtproutes") + ` line 2: port not in 1..65535: "99999"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "virtualdomains") {
		t.Errorf("Check blamed a good file: %v", err)
	}
	if got := d.TimeoutSMTPD(); got != 1200*time.Second {
		t.Errorf("timeoutsmtpd = %v, want the default 1200s", got)
	}
	if _, _, found := d.SMTPRoutes().Lookup("example.org"); found {
		t.Errorf("a never-good smtproutes has routes")
	}
	if errs := w.take(); len(errs) != 0 {
		t.Errorf("problems already returned by Check were warned again: %v", errs)
	}
}

func TestNeverGoodRcptHostsIsAbsentNotEverything(t *testing.T) {
	d, _ := open(t, map[string]string{"rcpthosts": "*\n", "morercpthosts": "example.org\n"})
	if set, ok := d.RcptHosts(); ok || set.Len() != 0 {
		t.Errorf("malformed rcpthosts = %d entries, present %v; want absent", set.Len(), ok)
	}
}

func TestUnreadableFileKeepsLastGoodValue(t *testing.T) {
	cases := []struct {
		name   string
		spoil  func(t *testing.T, path string)
		repair func(t *testing.T, path string)
	}{
		{
			name: "a file without read permission",
			spoil: func(t *testing.T, path string) {
				if os.Geteuid() == 0 {
					t.Skip("running as root, which can read a mode 000 file; the directory case covers this")
				}
				if err := os.Chmod(path, 0); err != nil {
					t.Fatal(err)
				}
			},
			repair: func(t *testing.T, path string) {
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "a directory in place of the file",
			spoil: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			repair: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("example.org\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, w := open(t, map[string]string{"rcpthosts": "example.org\n"})
			if set, ok := d.RcptHosts(); !ok || !set.Contains("example.org") {
				t.Fatalf("rcpthosts not read")
			}
			c.spoil(t, d.Path("rcpthosts"))
			for range 2 {
				if set, ok := d.RcptHosts(); !ok || !set.Contains("example.org") {
					t.Errorf("unreadable rcpthosts lost the last good set (present %v)", ok)
				}
			}
			errs := w.take()
			if len(errs) != 1 {
				t.Fatalf("warned %v, want one warning", errs)
			}
			wantFileError(t, errs[0], d.Path("rcpthosts"), 0)
			if err := d.Check(); err == nil {
				t.Errorf("Check passed with an unreadable file")
			}
			c.repair(t, d.Path("rcpthosts"))
			if err := d.Check(); err != nil {
				t.Errorf("Check after the fix: %v", err)
			}
		})
	}
}

func TestUnreadableFileFirstSeenFailsCheck(t *testing.T) {
	d, w := open(t, nil)
	if err := os.Mkdir(d.Path("locals"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, d.dir, "me", "mx.example.org\n")
	if got := d.Locals(); !got.Contains("mx.example.org") || got.Len() != 1 {
		t.Errorf("a never-readable locals should behave as absent (me), got %d entries", got.Len())
	}
	if errs := w.take(); len(errs) != 1 {
		t.Errorf("warned %v, want one warning", errs)
	}
	err := d.Check()
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != d.Path("locals") {
		t.Errorf("Check = %v, want an error naming %s", err, d.Path("locals"))
	}
}

func TestCheckFailsWhenTheDirectoryIsMissing(t *testing.T) {
	dir := filepath.Join(fixtures.Scratch(t), "nonexistent")
	d := Open(dir, nil)
	err := d.Check()
	if err == nil || !strings.Contains(err.Error(), dir) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check = %v, want a not-exist error naming %s", err, dir)
	}
	if got := d.ConcurrencyLocal(); got != 10 {
		t.Errorf("concurrencylocal = %d, want the default", got)
	}
}

func TestWarnMayCallBackIntoTheDir(t *testing.T) {
	dir := fixtures.Scratch(t)
	write(t, dir, "databytes", "x\n")
	var d *Dir
	called := false
	d = Open(dir, func(error) {
		called = true
		d.Databytes() // would deadlock if warn ran under the lock
	})
	d.Databytes()
	if !called {
		t.Errorf("warn not called")
	}
}

func TestConcurrentUseIsSafe(t *testing.T) {
	d, _ := open(t, map[string]string{"rcpthosts": "example.org\n", "databytes": "1\n"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				if i == 0 {
					os.WriteFile(d.Path("databytes"), []byte(strings.Repeat("1", j%5+1)+"\n"), 0o644)
				}
				d.Databytes()
				d.RcptHosts()
				d.Locals()
			}
		})
	}
	wg.Wait()
}

func TestStampRecentCoversTheRacyWindow(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		st   stamp
		want bool
	}{
		{"a file changed just now is recent", stamp{mtime: now.UnixNano(), ctime: now.UnixNano()}, true},
		{"a file changed an hour ago is settled", stamp{mtime: now.Add(-time.Hour).UnixNano(), ctime: now.Add(-time.Hour).UnixNano()}, false},
		{"a recent ctime alone is recent", stamp{mtime: now.Add(-time.Hour).UnixNano(), ctime: now.UnixNano()}, true},
		{"a future mtime is recent", stamp{mtime: now.Add(time.Hour).UnixNano()}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.st.recent(now); got != c.want {
				t.Errorf("recent = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAuthSenders(t *testing.T) {
	d, _ := open(t, map[string]string{"authsenders": "alice:alice@example.net\nAlice:@Lists.Example.org\nbob@example.net:b@example.com\n"})
	a := d.AuthSenders()
	for _, c := range []struct {
		login, sender string
		want          bool
	}{
		{"alice", "alice@example.net", true},
		{"ALICE", "Alice@Example.NET", true},
		{"alice", "any@lists.example.org", true},
		{"alice", "b@example.com", false},
		{"bob@example.net", "b@example.com", true},
		{"bob", "b@example.com", false},
		{"carol", "alice@example.net", false},
	} {
		if got := a.Allows(c.login, c.sender); got != c.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", c.login, c.sender, got, c.want)
		}
	}
	d, _ = open(t, map[string]string{"authsenders": "alice\n"})
	if err := d.Check(); err == nil || !strings.Contains(err.Error(), "authsenders") {
		t.Errorf("Check of a line without a colon: %v", err)
	}
}

func TestNamesAreTheFilesOpenReads(t *testing.T) {
	d := Open(t.TempDir(), nil)
	names := Names()
	if len(names) != len(d.files) {
		t.Fatalf("Names gives %d files, Open reads %d", len(names), len(d.files))
	}
	for _, name := range names {
		if d.files[name] == nil {
			t.Errorf("Names gives %q, which Open does not read", name)
		}
	}
	for _, want := range []string{"me", "rcpthosts", "morercpthosts", "smtproutes", "databytes"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names lacks %q", want)
		}
	}
}
