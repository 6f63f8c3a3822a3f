package passwd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gqmail/gqmail/fixtures"
	"github.com/gqmail/gqmail/internal/layout"
)

// The hashes of vectorPassword the table tests store: cheap to check.
const (
	bcryptHash = "$2b$05$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a"
	sha512Hash = "$6$gqmailsalt12345$gLVnF1tVtFr5PjiQ0w0s.EJpVFNg8QIGpHkmwWnbtAKvgClNic4vJ.kTN0pjNJQdlv1mKVU2Mk66ZWgCvNegM."
)

func tablePath(t *testing.T) string {
	t.Helper()
	p := layout.For(filepath.Join(fixtures.Scratch(t), "root"))
	if err := os.MkdirAll(p.Users, 0o755); err != nil {
		t.Fatal(err)
	}
	return Path(p)
}

func check(t *testing.T, path, login, password string) bool {
	t.Helper()
	ok, err := Check(path, login, password)
	if err != nil {
		t.Fatalf("Check(%q): %v", login, err)
	}
	return ok
}

func TestTableIsUsersPasswdDB(t *testing.T) {
	if got := Path(layout.For("/var/qmail")); got != "/var/qmail/users/passwd.db" {
		t.Errorf("Path = %s", got)
	}
}

func TestSetCheckAndDelete(t *testing.T) {
	path := tablePath(t)
	if err := Set(path, "alice", bcryptHash); err != nil {
		t.Fatal(err)
	}
	if err := Set(path, "Bob@Example.NET", sha512Hash); err != nil {
		t.Fatal(err)
	}
	if !check(t, path, "alice", vectorPassword) || !check(t, path, "bob@example.net", vectorPassword) {
		t.Error("the right password was refused")
	}
	if check(t, path, "alice", "correct horsf") {
		t.Error("a wrong password was taken")
	}
	if check(t, path, "carol", vectorPassword) {
		t.Error("an unknown login was taken")
	}
	if got, _ := List(path); !slices.Equal(got, []string{"alice", "bob@example.net"}) {
		t.Errorf("List = %q", got)
	}
	existed, err := Delete(path, "ALICE")
	if err != nil || !existed {
		t.Fatalf("Delete: %v, %v", existed, err)
	}
	if check(t, path, "alice", vectorPassword) {
		t.Error("a deleted login was taken")
	}
	if existed, err := Delete(path, "alice"); err != nil || existed {
		t.Errorf("second Delete: %v, %v", existed, err)
	}
	// Set replaces a hash.
	if err := Set(path, "bob@example.net", dummyHash); err != nil {
		t.Fatal(err)
	}
	if check(t, path, "bob@example.net", vectorPassword) {
		t.Error("the replaced hash still matched")
	}
}

func TestLoginsAreASCIILowercased(t *testing.T) {
	path := tablePath(t)
	if err := Set(path, "ÄLICE", bcryptHash); err != nil {
		t.Fatal(err)
	}
	if got, _ := List(path); !slices.Equal(got, []string{"Älice"}) {
		t.Errorf("List = %q, want only ASCII lowercased", got)
	}
	if !check(t, path, "Älice", vectorPassword) || !check(t, path, "ÄlIcE", vectorPassword) {
		t.Error("the login in another ASCII case was refused")
	}
}

func TestMissingTableHasNoLogins(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "no-root", "users", "passwd.db")
	if ok, err := Check(path, "alice", vectorPassword); ok || err != nil {
		t.Errorf("Check: %v, %v", ok, err)
	}
	if got, err := List(path); len(got) != 0 || err != nil {
		t.Errorf("List: %q, %v", got, err)
	}
	if existed, err := Delete(filepath.Join(fixtures.Scratch(t), "passwd.db"), "alice"); existed || err != nil {
		t.Errorf("Delete: %v, %v", existed, err)
	}
}

func TestSetRefusesBadLoginsAndHashes(t *testing.T) {
	path := tablePath(t)
	for _, login := range []string{"", "a b", "a:b", "a\tb", "a\x00b", strings.Repeat("a", 256), "\xff"} {
		if err := Set(path, login, bcryptHash); err == nil {
			t.Errorf("Set(%q) took the login", login)
		}
	}
	err := Set(path, "alice", "correct horse")
	if err == nil || strings.Contains(err.Error(), "correct horse") {
		t.Errorf("Set with a password in clear: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("refused changes made a table: %v", err)
	}
}

func TestTableIsMode0600AndKeepsItsMode(t *testing.T) {
	path := tablePath(t)
	if err := Set(path, "alice", bcryptHash); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new table has mode %04o, want 0600", fi.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("table belongs to uid %d, want %d", st.Uid, os.Geteuid())
	}
	// An administrator lets a group read it; changes keep that.
	os.Chmod(path, 0o640)
	if err := Set(path, "bob", bcryptHash); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("replaced table has mode %04o, want the old 0640", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.new*")); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// As root, a new table belongs to the owner of its directory: the user of
// a playground root, whose checkpassword runs as that user.
func TestNewTableBelongsToItsDirectorysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	path := tablePath(t)
	if err := os.Chown(filepath.Dir(path), 4242, 4243); err != nil {
		t.Fatal(err)
	}
	if err := Set(path, "alice", bcryptHash); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4243 {
		t.Errorf("table belongs to %d:%d, want 4242:4243", st.Uid, st.Gid)
	}
}

func TestTableOthersMayWriteIsRefused(t *testing.T) {
	path := tablePath(t)
	if err := Set(path, "alice", bcryptHash); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o620)
	if ok, err := Check(path, "alice", vectorPassword); ok || err == nil || !strings.Contains(err.Error(), "mode 0620") {
		t.Errorf("Check of a group-writable table: %v, %v", ok, err)
	}
	if err := Set(path, "bob", bcryptHash); err == nil {
		t.Error("Set changed a group-writable table")
	}
}

func TestDamagedTableIsATemporaryError(t *testing.T) {
	path := tablePath(t)
	if err := os.WriteFile(path, []byte("not a bbolt file, not at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := Check(path, "alice", vectorPassword); ok || err == nil {
		t.Errorf("Check of a damaged table: %v, %v", ok, err)
	}
	if err := Set(path, "alice", bcryptHash); err == nil {
		t.Error("Set over a damaged table")
	}
}

// A reader that opened the table before a change reads the old table to
// the end; one that opens after reads the new one.
func TestReaderBeforeAReplaceReadsTheOldTable(t *testing.T) {
	path := tablePath(t)
	for i := range 100 {
		if err := Set(path, fmt.Sprintf("user%03d", i), bcryptHash); err != nil {
			t.Fatal(err)
		}
	}
	db, _, err := openRead(path)
	if err != nil || db == nil {
		t.Fatal(db, err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := Import(path, strings.NewReader("user050:"+sha512Hash+"\nnew:"+sha512Hash+"\n"), "update"); err != nil {
		t.Fatal(err)
	}
	if _, err := Delete(path, "user000"); err != nil {
		t.Fatal(err)
	}
	n := 0
	tx.Bucket(bucketLogins).ForEach(func(k, v []byte) error {
		if string(v) != bcryptHash {
			t.Errorf("old reader sees %s = %s", k, v)
		}
		n++
		return nil
	})
	if n != 100 {
		t.Errorf("old reader sees %d logins, want 100", n)
	}
	got, _ := List(path)
	if len(got) != 100 || got[0] != "new" || slices.Contains(got, "user000") {
		t.Errorf("new reader sees %d logins: %q...", len(got), got[:3])
	}
}

// Checks while the table is replaced over and over always find the login
// and never an error.
func TestChecksDuringReplacesSeeATable(t *testing.T) {
	path := tablePath(t)
	if err := Set(path, "alice", bcryptHash); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := Set(path, fmt.Sprintf("other%d", i%10), sha512Hash); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	deadline := time.Now().Add(500 * time.Millisecond)
	for n := 0; time.Now().Before(deadline) || n < 20; n++ {
		if !check(t, path, "alice", vectorPassword) {
			t.Fatal("a check during a replace did not find alice")
		}
	}
	close(done)
	wg.Wait()
}

// Writers at once lose none of each other's changes.
func TestConcurrentSetsLoseNothing(t *testing.T) {
	path := tablePath(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if err := Set(path, fmt.Sprintf("user%02d", i), bcryptHash); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := List(path); len(got) != 16 {
		t.Errorf("after 16 concurrent Sets the table has %d logins: %q", len(got), got)
	}
}

// An unknown login costs what a login with a hash from Hash costs.
func TestUnknownLoginTakesAsLongAsAKnownOne(t *testing.T) {
	path := tablePath(t)
	h, err := Hash(vectorPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := Set(path, "alice", h); err != nil {
		t.Fatal(err)
	}
	fastest := func(login string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			Check(path, login, "wrong password")
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := fastest("alice"), fastest("nobody")
	if unknown < known/2 || unknown > known*2 {
		t.Errorf("a known login takes %v, an unknown one %v", known, unknown)
	}
	if missing := func() time.Duration {
		start := time.Now()
		Check(path+".none", "alice", "wrong password")
		return time.Since(start)
	}(); missing < known/2 {
		t.Errorf("a check in a missing table takes %v, a known login %v", missing, known)
	}
}

// A lock on users/, which anyone may take since anyone may open it, does
// not hold up a change: writers lock a file of their own.
func TestLockOnTheDirectoryDoesNotBlockWriters(t *testing.T) {
	path := tablePath(t)
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := syscall.Flock(int(dir.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Set(path, "alice", bcryptHash) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Set waited for a lock on users/")
	}
	// A lock file someone else planted is refused, not used.
	os.Remove(path + ".lock")
	if err := os.WriteFile(path+".lock", nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path+".lock", 0o666)
	if err := Set(path, "bob", bcryptHash); err == nil || !strings.Contains(err.Error(), "mode 0600") {
		t.Fatalf("Set with a lock file others may write: %v", err)
	}
}
