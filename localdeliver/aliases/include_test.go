package aliases

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// searchableTempDir is a t.TempDir everyone may search, or skips the
// test when a directory above it is not.
func searchableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // testing's own, made 0700
	os.Chmod(dir, 0o755)
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by everyone: include files under it are refused", d)
		}
		if d == "/" {
			return dir
		}
	}
}

// rootTempDir is a new directory whose whole path belongs to root and is
// writable by no one else, as an include holding programs needs; it
// skips the test when not root or when no such place is found.
func rootTempDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: an include holding programs must belong to root, and so must its directories")
	}
	for _, base := range []string{"/run", "/var/lib", "/var/cache", "/usr/local"} {
		if !rootOnly(base) {
			continue
		}
		dir, err := os.MkdirTemp(base, "gqmail-aliases-test-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		return dir
	}
	t.Skip("no directory found whose path belongs to root alone (tried /run, /var/lib, /var/cache, /usr/local)")
	return ""
}

func rootOnly(path string) bool {
	for d := path; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// importErr parses src with the real include reader and returns its one
// line's reason, or "" when it parsed.
func importErr(t *testing.T, src string) string {
	t.Helper()
	_, err := ParseFile(strings.NewReader(src), "aliases", Options{})
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) || len(e.Lines) != 1 {
		t.Fatalf("want one bad line, got %v", err)
	}
	return e.Lines[0].Reason
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, mode)
}

func TestIncludeProgramOwnedByRootInRootPathIsTaken(t *testing.T) {
	dir := rootTempDir(t)
	list := filepath.Join(dir, "list")
	write(t, list, "joe, \"|/usr/bin/logger -t list\", /var/mail/list\n", 0o644)
	p, err := ParseFile(strings.NewReader("list: :include:"+list+"\n"), "aliases", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := p.Aliases[0].Targets[0].Targets
	if len(got) != 3 || got[1].Kind != Program || got[2].Kind != File {
		t.Errorf("targets %+v", got)
	}
}

func TestIncludeSymlinkIsRefused(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		dir = rootTempDir(t)
	} else {
		dir = searchableTempDir(t)
	}
	// The target is as safe as can be: root's, 0644, in root's path.
	real := filepath.Join(dir, "real")
	write(t, real, "|/bin/echo pwned\n", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	want := ":include: " + link + ": is a symbolic link, which is not followed"
	if got := importErr(t, "x: :include:"+link+"\n"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A link to a directory on the path is refused as well.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	write(t, filepath.Join(sub, "list"), "joe\n", 0o644)
	os.Symlink(sub, filepath.Join(dir, "sublink"))
	via := filepath.Join(dir, "sublink", "list")
	want = ":include: " + via + ": " + filepath.Join(dir, "sublink") + " is a symbolic link, which is not followed"
	if got := importErr(t, "x: :include:"+via+"\n"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// The review's path: a link to a process's /proc file, root's and
	// 0444, whose contents its user chose.
	proc := filepath.Join(dir, "proc")
	os.Symlink("/proc/"+strconv.Itoa(os.Getpid())+"/cmdline", proc)
	if got := importErr(t, "x: :include:"+proc+"\n"); !strings.Contains(got, "symbolic link") {
		t.Errorf("a link into /proc: %q", got)
	}
}

func TestIncludeOnProcOrDotDotIsRefused(t *testing.T) {
	for path, want := range map[string]string{
		"/proc/" + strconv.Itoa(os.Getpid()) + "/cmdline": "is on procfs",
		"/proc/self/cmdline":                              "/proc/self is a symbolic link",
		"/etc/../etc/passwd":                              `path has a "." or ".." component`,
		"/etc/./passwd":                                   `path has a "." or ".." component`,
		"/dev/null":                                       "is a device",
		"/etc":                                            "is a directory",
	} {
		if got := importErr(t, "x: :include:"+path+"\n"); !strings.Contains(got, want) || !strings.Contains(got, path) {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

func TestIncludeInPrivateDirectoryIsRefused(t *testing.T) {
	dir := searchableTempDir(t)
	private := filepath.Join(dir, "private")
	os.Mkdir(private, 0o700)
	os.Chmod(private, 0o700)
	list := filepath.Join(private, "list")
	write(t, list, "joe\n", 0o644)
	want := ":include: " + list + ": directory " + private + " has mode 0700: not searchable by everyone"
	if got := importErr(t, "x: :include:"+list+"\n"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// And a file only its owner may read.
	secret := filepath.Join(dir, "secret")
	write(t, secret, "joe\n", 0o640)
	want = ":include: " + secret + " has mode 0640: not readable by everyone"
	if got := importErr(t, "x: :include:"+secret+"\n"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestIncludeFIFOIsRefusedWithoutBlocking(t *testing.T) {
	dir := searchableTempDir(t)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o644)
	done := make(chan string, 1)
	go func() {
		_, err := ParseFile(strings.NewReader("x: :include:"+fifo+"\n"), "aliases", Options{})
		if err == nil {
			done <- ""
			return
		}
		done <- err.Error()
	}()
	select {
	case got := <-done:
		if want := ":include: " + fifo + ": is a FIFO"; !strings.Contains(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO include blocked") // the goroutine stays blocked; the test binary ends
	}
}

func TestIncludeWithProgramOwnedByUserIsRefused(t *testing.T) {
	var dir string
	uid := os.Geteuid()
	if uid == 0 {
		dir = rootTempDir(t)
		uid = 54321
	} else {
		dir = searchableTempDir(t)
	}
	list := filepath.Join(dir, "list")
	write(t, list, "joe\n|id > /tmp/x\n", 0o644)
	if os.Geteuid() == 0 {
		if err := os.Chown(list, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	want := ":include: " + list + " belongs to uid " + strconv.Itoa(uid) + " and holds programs or files, which would run as the alias account"
	if got := importErr(t, "x: :include:"+list+"\n"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Addresses alone may be anyone's.
	write(t, list, "joe\nann@example.org\n", 0o644)
	if got := importErr(t, "x: :include:"+list+"\n"); got != "" {
		t.Errorf("an address-only include of uid %d: %q", uid, got)
	}
}

func TestIncludeWithProgramNeedsRootsPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the file must belong to root for the directories to be looked at")
	}
	base := rootTempDir(t)
	for _, c := range []struct {
		name string
		uid  int
		mode os.FileMode
		want string
	}{
		{"users", 54321, 0o755, "belongs to uid 54321: only root may own its path"},
		{"groupw", 0, 0o775, "has mode 0775: others than root may change it"},
		{"sticky", 0, 0o777 | os.ModeSticky, "has mode 0777: others than root may change it"},
	} {
		dir := filepath.Join(base, c.name)
		os.Mkdir(dir, 0o755)
		os.Chmod(dir, c.mode)
		os.Chown(dir, c.uid, 0)
		list := filepath.Join(dir, "list")
		write(t, list, "/var/mail/x\n", 0o644)
		want := ":include: " + list + " holds programs or files, which would run as the alias account, but directory " + dir + " " + c.want
		if got := importErr(t, "x: :include:"+list+"\n"); got != want {
			t.Errorf("%s: got %q, want %q", c.name, got, want)
		}
	}
}

func TestIncludeTooBigIsRefused(t *testing.T) {
	dir := searchableTempDir(t)
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(maxIncludeBytes + 1)
	f.Close()
	os.Chmod(big, 0o644)
	if got := importErr(t, "x: :include:"+big+"\n"); got != ":include: "+big+": is larger than 16 MiB" {
		t.Errorf("got %q", got)
	}
}

func TestCheckHoldsIncludesToTheImportsRules(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		dir = rootTempDir(t)
	} else {
		dir = searchableTempDir(t)
	}
	list, prog := filepath.Join(dir, "list"), filepath.Join(dir, "prog")
	write(t, list, "joe\n", 0o644)
	write(t, prog, "|/bin/true\n", 0o644)
	src := "a: :include:" + list + "\n"
	if os.Geteuid() == 0 {
		src += "b: :include:" + prog + "\n"
	}
	p, err := ParseFile(strings.NewReader(src), "aliases", Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(searchableTempDir(t), "aliases.db")
	if err := WriteTable(path, p); err != nil {
		t.Fatal(err)
	}
	tab := OpenTable(path)
	defer tab.Close()
	if ch, err := tab.Check(); err != nil || len(ch) != 0 {
		t.Fatalf("right after import: %v, %v", ch, err)
	}
	// The same contents, through a link: unsafe, named as such.
	os.Rename(list, list+".real")
	os.Symlink(list+".real", list)
	want := map[string]string{list: "unsafe or unreadable: is a symbolic link, which is not followed"}
	if os.Geteuid() == 0 {
		os.Chown(prog, 54321, 54321)
		want[prog] = "unsafe: :include: " + prog + " belongs to uid 54321 and holds programs or files, which would run as the alias account"
	}
	ch, err := tab.Check()
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != len(want) {
		t.Fatalf("changes %+v, want %v", ch, want)
	}
	for _, c := range ch {
		if want[c.Path] != c.Why {
			t.Errorf("%s: %q, want %q", c.Path, c.Why, want[c.Path])
		}
	}
	// A FIFO does not block the check.
	os.Remove(list)
	syscall.Mkfifo(list, 0o644)
	done := make(chan []Change, 1)
	go func() { ch, _ := tab.Check(); done <- ch }()
	select {
	case ch := <-done:
		if len(ch) == 0 || ch[0].Path != list || !strings.Contains(ch[0].Why, "is a FIFO") {
			t.Errorf("a FIFO: %+v", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("aliases check blocked on a FIFO include")
	}
}

// TestIncludeWithoutOpenat2 runs the refusals again through the walk with
// openat and O_NOFOLLOW that a kernel without openat2 gets.
func TestIncludeWithoutOpenat2(t *testing.T) {
	was := noOpenat2.Load()
	noOpenat2.Store(true)
	defer noOpenat2.Store(was)
	t.Run("symlink", TestIncludeSymlinkIsRefused)
	t.Run("proc", TestIncludeOnProcOrDotDotIsRefused)
	t.Run("private", TestIncludeInPrivateDirectoryIsRefused)
	t.Run("fifo", TestIncludeFIFOIsRefusedWithoutBlocking)
	t.Run("rootpath", TestIncludeWithProgramNeedsRootsPath)
	t.Run("taken", TestIncludeProgramOwnedByRootInRootPathIsTaken)
}
