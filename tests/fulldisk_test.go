package tests

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gqmail/gqmail/store"
)

// With the queue's file system full, SMTP answers 451 (try again), the
// daemon keeps running, every message that got a 250 is still queued
// whole, and the daemon starts again on the full disk.
func TestFullQueueDiskIsATemporaryFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it mounts a 1 MiB tmpfs as the queue directory")
	}
	root, addr, acct := setupRoot(t, "", map[string]string{"me": "localhost\n"})
	queue := filepath.Join(root, "queue")
	os.MkdirAll(queue, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", queue).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", queue).Run() })
	os.Chown(queue, acct.uid, acct.gid)
	d := startDaemon(t, root, addr, acct)

	// Recipients whose domain does not resolve stay queued.
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 1600) // 100 KiB
	var accepted []int
	refused := ""
	for i := 0; i < 40 && refused == ""; i++ {
		err := smtp.SendMail(addr, nil, "tester@localhost", []string{"u@nowhere.example"},
			[]byte(fmt.Sprintf("Subject: full-%d\r\nX-Token: %d\r\n\r\n%s", i, i, body)))
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case strings.HasPrefix(err.Error(), "451"):
			refused = err.Error()
		default:
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if !strings.HasPrefix(refused, "451 ") || !strings.Contains(refused, "qq write error or disk full (#4.3.0)") || len(accepted) == 0 {
		t.Fatalf("%d accepted, then %q; want some accepted, then qmail's 451", len(accepted), refused)
	}
	waitFor(t, "the log to say the disk is full", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), "no space left on device")
	})
	select {
	case <-d.done:
		t.Fatal("the daemon died of the full disk")
	default:
	}

	// Stopped and started again, on the still full disk.
	d.stop()
	d = startDaemon(t, root, addr, acct)
	d.stop()
	db, err := store.Open(filepath.Join(queue, "queue.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	envs, _ := db.List(0, 100)
	if len(envs) != len(accepted) {
		t.Fatalf("%d messages queued, %d were accepted", len(envs), len(accepted))
	}
	for i, env := range envs {
		b, err := db.Body(env.ID)
		if err != nil || !strings.Contains(string(b), fmt.Sprintf("X-Token: %d\n", accepted[i])) || !strings.HasSuffix(string(b), "abcde\n") {
			t.Fatalf("message %d is not whole after the disk filled: %d bytes, %v", accepted[i], len(b), err)
		}
	}
	t.Logf("%d messages of 100 KiB accepted before the disk was full, all kept whole", len(accepted))
}

// A Maildir on a full disk defers the delivery and loses nothing: once
// there is room, the retry delivers the message whole.
func TestFullMaildirDiskDefers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it mounts a 64 KiB tmpfs as the Maildir")
	}
	root, addr, acct := setupRoot(t, "", map[string]string{"me": "localhost\n"})
	d := startDaemon(t, root, addr, acct)
	maildir := filepath.Join(root, "home", "Maildir")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", maildir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", "-l", maildir).Run()
		}
	})
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.Mkdir(filepath.Join(maildir, sub), 0o700)
	}
	chownTree(t, maildir, acct)

	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 1600)
	sendMail(t, addr, "tester@localhost", "u@localhost", "Subject: big\r\n\r\n"+body)
	waitFor(t, "the deferral", 20*time.Second, func() bool { return len(d.results()["u@localhost"]) == 1 })
	if got := d.results()["u@localhost"][0]; !strings.HasPrefix(got, "deferral: ") || !strings.Contains(got, "maildir") {
		t.Fatalf("delivery into a full Maildir: %q", got)
	}
	if files, _ := filepath.Glob(filepath.Join(maildir, "*", "*")); len(files) != 0 {
		t.Fatalf("the failed delivery left %v", files)
	}

	// Room again: the file system under the mount has the Maildir the
	// daemon made. ALRM asks for the retry now.
	if out, err := exec.Command("umount", maildir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	mounted = false
	d.cmd.Process.Signal(syscall.SIGALRM)
	waitFor(t, "the retry", 20*time.Second, func() bool { return len(maildirNew(t, root)) == 1 })
	b, _ := os.ReadFile(maildirNew(t, root)[0])
	if !strings.HasSuffix(string(b), "abcde\n") || len(b) < 100*1024 {
		t.Fatalf("the retried message is not whole: %d bytes", len(b))
	}
}
