package mailbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gqmail/gqmail/fixtures"
)

// newMaildir makes an empty maildir and returns its path with a trailing
// "/", as a .qmail file names it.
func newMaildir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(fixtures.Scratch(t), "Maildir")
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return dir + "/"
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// wantEmpty checks that the maildir's tmp/ and new/ hold nothing.
func wantEmpty(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"tmp", "new"} {
		if names := entries(t, filepath.Join(dir, sub)); len(names) != 0 {
			t.Errorf("%s/ holds %q, want nothing", sub, names)
		}
	}
}

var nameRE = regexp.MustCompile(`^[0-9]+\.M[0-9]{6}P[0-9]+Q[0-9]+\.testhost$`)

func TestMaildirDeliversIntoNew(t *testing.T) {
	dir := newMaildir(t)
	m := Maildir{Host: "testhost"}
	msg := "From x\nSubject: hi\n\nbody without final newline"
	name, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte(msg)))
	if err != nil {
		t.Fatal(err)
	}
	if !nameRE.MatchString(name) {
		t.Errorf("name %q does not match %v", name, nameRE)
	}
	want := "Return-Path: <joe@example.com>\nDelivered-To: bob@example.org\n" + msg
	if got := readFile(t, filepath.Join(dir, "new", name)); got != want {
		t.Errorf("new/%s holds %q, want %q", name, got, want)
	}
	if names := entries(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Errorf("tmp/ holds %q after success", names)
	}
	fi, err := os.Stat(filepath.Join(dir, "new", name))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestMaildirRelativePathIsFromWorkingDirectory(t *testing.T) {
	dir := newMaildir(t)
	t.Chdir(filepath.Dir(filepath.Clean(dir)))
	m := Maildir{Host: "testhost"}
	name, err := m.Deliver(context.Background(), "./Maildir/", testEnv, bytes.NewReader([]byte("x\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new", name)); err != nil {
		t.Error(err)
	}
}

func TestMaildirHostNameEscaped(t *testing.T) {
	dir := newMaildir(t)
	m := Maildir{Host: "a/b:c"}
	name, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte("x\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, `.a\057b\072c`) {
		t.Errorf("name %q does not end in the escaped host", name)
	}
}

func TestMaildirDefaultHostIsHostname(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	dir := newMaildir(t)
	var m Maildir
	name, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte("x\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, "."+escapeHost(host)) {
		t.Errorf("name %q does not end in host %q", name, host)
	}
}

func TestMaildirFailuresLeaveNothingBehind(t *testing.T) {
	const text = "Temporary error on maildir delivery. (#4.3.0)"
	tests := []struct {
		name string
		fs   *faultFS
	}{
		{"write fails at once", &faultFS{writeErr: syscall.ENOSPC}},
		{"write fails mid-message", &faultFS{writeErr: syscall.ENOSPC, writeBudget: 100}},
		{"file fsync fails", &faultFS{syncErr: syscall.EIO}},
		{"link fails", &faultFS{linkErr: syscall.EEXIST}},
		{"fsync of new/ fails", &faultFS{dirSyncErr: syscall.EIO}},
		{"name taken three times", &faultFS{existFor: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newMaildir(t)
			m := Maildir{Host: "testhost", FS: tt.fs}
			_, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader(bytes.Repeat([]byte("body\n"), 100)))
			wantFailure(t, err, text)
			wantEmpty(t, dir)
		})
	}
}

func TestMaildirRetriesTakenName(t *testing.T) {
	dir := newMaildir(t)
	m := Maildir{Host: "testhost", FS: &faultFS{existFor: 2}}
	name, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte("x\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, "Q3.") {
		t.Errorf("name %q: want the third try's count Q3", name)
	}
	if names := entries(t, filepath.Join(dir, "new")); len(names) != 1 || names[0] != name {
		t.Errorf("new/ holds %q, want [%s]", names, name)
	}
}

func TestMaildirMissingGivesChdirText(t *testing.T) {
	base := fixtures.Scratch(t)
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(base, "Maildir") + "/", file + "/"} {
		var m Maildir
		_, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte("x\n")))
		wantFailure(t, err, "Unable to chdir to maildir. (#4.2.1)")
	}
}

func TestMaildirMissingTmpIsTemporaryError(t *testing.T) {
	dir := newMaildir(t)
	if err := os.Remove(filepath.Join(dir, "tmp")); err != nil {
		t.Fatal(err)
	}
	var m Maildir
	_, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Temporary error on maildir delivery. (#4.3.0)")
	if _, err := os.Stat(filepath.Join(dir, "tmp")); err == nil {
		t.Error("tmp/ was created")
	}
}

func TestMaildirCanceledContextDeliversNothing(t *testing.T) {
	dir := newMaildir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var m Maildir
	_, err := m.Deliver(ctx, dir, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Temporary error on maildir delivery. (#4.3.0)")
	wantEmpty(t, dir)
}

func TestMaildirNamesUniqueAcrossGoroutines(t *testing.T) {
	const workers, each = 8, 125
	dir := newMaildir(t)
	m := Maildir{Host: "testhost"}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		names = map[string]bool{}
	)
	for range workers {
		wg.Go(func() {
			for range each {
				name, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader([]byte("x\n")))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				names[name] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(names) != workers*each {
		t.Errorf("%d distinct names returned, want %d", len(names), workers*each)
	}
	if n := len(entries(t, filepath.Join(dir, "new"))); n != workers*each {
		t.Errorf("new/ holds %d files, want %d", n, workers*each)
	}
	if names := entries(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Errorf("tmp/ holds %d files after success", len(names))
	}
}

func TestMaildirSymlinkToOwnDirectoryAllowed(t *testing.T) {
	dir := newMaildir(t)
	link := filepath.Join(fixtures.Scratch(t), "Maildir")
	if err := os.Symlink(filepath.Clean(dir), link); err != nil {
		t.Fatal(err)
	}
	m := Maildir{Host: "testhost"}
	name, err := m.Deliver(context.Background(), link+"/", testEnv, bytes.NewReader([]byte("x\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new", name)); err != nil {
		t.Error(err)
	}
}

func TestMaildirSymlinkToSomeoneElsesDirectoryRefused(t *testing.T) {
	requireRoot(t)
	dir := newMaildir(t)
	if err := os.Chown(filepath.Clean(dir), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(fixtures.Scratch(t), "Maildir")
	if err := os.Symlink(filepath.Clean(dir), link); err != nil {
		t.Fatal(err)
	}
	var m Maildir
	_, err := m.Deliver(context.Background(), link+"/", testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to open "+link+"/: it is a symbolic link to a directory owned by someone else. (#4.7.0)")
	wantEmpty(t, dir)
}

func TestMaildirSymlinkOwnedBySomeoneElseRefused(t *testing.T) {
	requireRoot(t)
	dir := newMaildir(t)
	link := filepath.Join(fixtures.Scratch(t), "Maildir")
	if err := os.Symlink(filepath.Clean(dir), link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	var m Maildir
	_, err := m.Deliver(context.Background(), link+"/", testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to open "+link+"/: it is a symbolic link owned by someone else. (#4.7.0)")
	wantEmpty(t, dir)
}

func BenchmarkMaildir4K(b *testing.B) {
	dir := newMaildir(b)
	msg := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 64)
	m := Maildir{Host: "benchhost"}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := m.Deliver(context.Background(), dir, testEnv, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
