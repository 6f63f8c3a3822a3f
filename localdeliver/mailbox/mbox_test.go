package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gqmail/gqmail/fixtures"
)

var testEnv = Envelope{
	Sender:    "joe@example.com",
	Recipient: "bob@example.org",
	Time:      time.Date(1996, time.January, 3, 1, 5, 34, 0, time.UTC),
}

const testHead = "From joe@example.com Wed Jan 03 01:05:34 1996\n" +
	"Return-Path: <joe@example.com>\n" +
	"Delivered-To: bob@example.org\n"

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMboxFormat(t *testing.T) {
	tests := []struct{ name, msg, want string }{
		{"plain message gets header lines and a blank separator",
			"Subject: hi\n\nbody\n",
			testHead + "Subject: hi\n\nbody\n\n"},
		{"From_ line in the body is quoted",
			"Subject: hi\n\nFrom me\n",
			testHead + "Subject: hi\n\n>From me\n\n"},
		{"quoted From_ lines get one more quote",
			"\n>From a\n>>From b\n",
			testHead + "\n>>From a\n>>>From b\n\n"},
		{"From_ as the first line is quoted",
			"From x\n",
			testHead + ">From x\n\n"},
		{"From without a space is left alone",
			"\nFrom\nFromage\n>From\n",
			testHead + "\nFrom\nFromage\n>From\n\n"},
		{"From_ not at the start of a line is left alone",
			"\n From x\nx>From y\n",
			testHead + "\n From x\nx>From y\n\n"},
		{"missing final newline is added",
			"Subject: hi\n\nno newline",
			testHead + "Subject: hi\n\nno newline\n\n"},
		{"missing final newline after a quoted From_",
			"\nFrom x",
			testHead + "\n>From x\n\n"},
		{"empty message is only the header lines and separator",
			"",
			testHead + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(fixtures.Scratch(t), "Mailbox")
			var m Mbox
			if err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte(tt.msg))); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != tt.want {
				t.Errorf("mbox holds\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestMboxNullSenderIsMailerDaemon(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	env := testEnv
	env.Sender = ""
	var m Mbox
	if err := m.Append(context.Background(), path, env, bytes.NewReader([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
	want := "From MAILER-DAEMON Wed Jan 03 01:05:34 1996\nReturn-Path: <>\nDelivered-To: bob@example.org\nx\n\n"
	if got := readFile(t, path); got != want {
		t.Errorf("mbox holds %q, want %q", got, want)
	}
}

func TestMboxCreatedWithMode0600(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	var m Mbox
	if err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestMboxTwoAppendsFollowEachOther(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	old := "From old Mon Jan 01 00:00:00 1990\nold message\n\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var m Mbox
	for _, msg := range []string{"first\n", "second"} {
		if err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte(msg))); err != nil {
			t.Fatal(err)
		}
	}
	want := old + testHead + "first\n\n" + testHead + "second\n\n"
	if got := readFile(t, path); got != want {
		t.Errorf("mbox holds\n%q\nwant\n%q", got, want)
	}
}

func TestMboxRelativePathIsFromWorkingDirectory(t *testing.T) {
	dir := fixtures.Scratch(t)
	t.Chdir(dir)
	var m Mbox
	if err := m.Append(context.Background(), "./Mailbox", testEnv, bytes.NewReader([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "Mailbox")); got != testHead+"x\n\n" {
		t.Errorf("mbox holds %q", got)
	}
}

// A failure part way through the message must leave the mbox as it was.
func TestMboxTruncatedBackAfterWriteFailure(t *testing.T) {
	body := strings.Repeat("a line of the message body\n", 5000) // > the write buffer
	entry := len(testHead) + len(body) + 1
	for _, budget := range []int{0, 10, len(testHead) + 100, 70000, entry - 1} {
		t.Run("after "+strconv.Itoa(budget)+" bytes", func(t *testing.T) {
			path := filepath.Join(fixtures.Scratch(t), "Mailbox")
			old := "From old Mon Jan 01 00:00:00 1990\nold message\n\n"
			if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			ffs := &faultFS{writeErr: syscall.ENOSPC, writeBudget: budget}
			m := Mbox{FS: ffs}
			err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte(body)))
			wantFailure(t, err, "Unable to write "+path+": no space left on device. (#4.3.0)")
			if got := readFile(t, path); got != old {
				t.Errorf("mbox not truncated back: %d bytes, want %d", len(got), len(old))
			}
		})
	}
}

func TestMboxTruncatedBackAfterFsyncFailure(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	old := "From old Mon Jan 01 00:00:00 1990\nold message\n\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	m := Mbox{FS: &faultFS{syncErr: syscall.EIO}}
	err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte("new message\n")))
	wantFailure(t, err, "Unable to write "+path+": input/output error. (#4.3.0)")
	if got := readFile(t, path); got != old {
		t.Errorf("mbox holds %q, want the old contents %q", got, old)
	}
}

// Without the lock, bytes after the old end may be another writer's
// message: they must stay, as in qmail.
func TestMboxNotTruncatedWhenUnlocked(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	m := Mbox{FS: &faultFS{badFd: true, syncErr: syscall.EIO}}
	err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to write "+path+": input/output error. (#4.3.0)")
	if got := readFile(t, path); got != testHead+"x\n\n" {
		t.Errorf("mbox holds %q, want the unlocked write left in place", got)
	}
}

// lockedMbox creates path and holds an exclusive flock on it, as another
// mail program appending to the mbox would; closing the file releases it.
func lockedMbox(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

func TestMboxLockTimeout(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	holder := lockedMbox(t, path)
	defer holder.Close()
	m := Mbox{LockTimeout: 150 * time.Millisecond}
	start := time.Now()
	err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "File has been locked for 30 seconds straight. (#4.3.0)")
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, want at least 150ms", waited)
	}
	if got := readFile(t, path); got != "" {
		t.Errorf("locked mbox was written: %q", got)
	}
}

func TestMboxWaitsForLockRelease(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	holder := lockedMbox(t, path)
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(100 * time.Millisecond)
		holder.Close()
	})
	defer wg.Wait()
	m := Mbox{LockTimeout: 5 * time.Second}
	if err := m.Append(context.Background(), path, testEnv, bytes.NewReader([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != testHead+"x\n\n" {
		t.Errorf("mbox holds %q", got)
	}
}

func TestMboxLockWaitEndsWithContext(t *testing.T) {
	path := filepath.Join(fixtures.Scratch(t), "Mailbox")
	holder := lockedMbox(t, path)
	defer holder.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var m Mbox
	err := m.Append(ctx, path, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to lock "+path+": context deadline exceeded. (#4.3.0)")
}

func TestMboxOpenFailureNamesTheFile(t *testing.T) {
	dir := fixtures.Scratch(t)
	tests := []struct{ name, path, err string }{
		{"missing directory", filepath.Join(dir, "nodir", "Mailbox"), "no such file or directory"},
		{"path is a directory", dir, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Mbox
			err := m.Append(context.Background(), tt.path, testEnv, bytes.NewReader([]byte("x\n")))
			wantFailure(t, err, "Unable to open "+tt.path+": "+tt.err+". (#4.2.1)")
		})
	}
}

func TestMboxSymlinkToOwnFileAllowed(t *testing.T) {
	dir := fixtures.Scratch(t)
	target := filepath.Join(dir, "real")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "Mailbox")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	var m Mbox
	if err := m.Append(context.Background(), link, testEnv, bytes.NewReader([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, target); got != testHead+"x\n\n" {
		t.Errorf("target holds %q", got)
	}
}

func TestMboxSymlinkToSomeoneElsesFileRefused(t *testing.T) {
	requireRoot(t)
	dir := fixtures.Scratch(t)
	target := filepath.Join(dir, "theirs")
	if err := os.WriteFile(target, []byte("theirs\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(target, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "Mailbox")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	var m Mbox
	err := m.Append(context.Background(), link, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to open "+link+": it is a symbolic link to a file owned by someone else. (#4.7.0)")
	if got := readFile(t, target); got != "theirs\n" {
		t.Errorf("target was written: %q", got)
	}
}

func TestMboxSymlinkOwnedBySomeoneElseRefused(t *testing.T) {
	requireRoot(t)
	dir := fixtures.Scratch(t)
	target := filepath.Join(dir, "mine")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "Mailbox")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	var m Mbox
	err := m.Append(context.Background(), link, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to open "+link+": it is a symbolic link owned by someone else. (#4.7.0)")
	if got := readFile(t, target); got != "" {
		t.Errorf("target was written: %q", got)
	}
}

func TestMboxNotCreatedThroughDanglingSymlink(t *testing.T) {
	dir := fixtures.Scratch(t)
	target := filepath.Join(dir, "nothere")
	link := filepath.Join(dir, "Mailbox")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	var m Mbox
	err := m.Append(context.Background(), link, testEnv, bytes.NewReader([]byte("x\n")))
	wantFailure(t, err, "Unable to open "+link+": no such file or directory. (#4.2.1)")
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("%s was created through the link", target)
	}
}

// FuzzMboxrdRoundTrip checks the quoting: no written line starts a new
// mbox entry, and removing one ">" from each quoted line gives back the
// message (with its final newline added if missing).
func FuzzMboxrdRoundTrip(f *testing.F) {
	f.Add([]byte("From a\n>From b\n>>From c\nFrom"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n>\nFrom \n"))
	f.Add([]byte(">>>>>>>>>>>>>>>>>>>>>>>>>>From long quoted\n" + strings.Repeat("x", 40) + "\nFrom x"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		// bufio's smallest reader: long lines and long runs of ">"
		// arrive in many pieces.
		if err := writeMboxrd(w, bufio.NewReaderSize(bytes.NewReader(msg), 16)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		want := msg
		if len(msg) > 0 && msg[len(msg)-1] != '\n' {
			want = append(bytes.Clone(msg), '\n')
		}
		var back []byte
		for _, line := range bytes.SplitAfter(out.Bytes(), []byte("\n")) {
			if bytes.HasPrefix(line, []byte("From ")) {
				t.Fatalf("unquoted From_ line %q in %q", line, out.Bytes())
			}
			if fromLine(line) {
				line = line[1:]
			}
			back = append(back, line...)
		}
		if !bytes.Equal(back, want) {
			t.Errorf("round trip of %q gave %q", want, back)
		}
	})
}

func BenchmarkMbox4K(b *testing.B) {
	path := filepath.Join(fixtures.Scratch(b), "Mailbox")
	msg := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 64)
	var m Mbox
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := m.Append(context.Background(), path, testEnv, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
