package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bigBody is a message body of about 3 MB (larger than what the queue
// keeps in its database, so it becomes a body file) with lines that
// delivery must treat with care: "From " lines for mbox, lines starting
// with a dot for SMTP, and a line of 200 KB.
func bigBody() string {
	var b strings.Builder
	for i := range 40000 {
		switch i % 1000 {
		case 1:
			b.WriteString("From the start of a line\n")
		case 2:
			b.WriteString(".a line with a leading dot\n")
		case 3:
			b.WriteString(">From an already quoted line\n")
		default:
			fmt.Fprintf(&b, "line %06d of the large message, long enough to be like mail\n", i)
		}
	}
	b.WriteString(strings.Repeat("L", 200000) + "\n")
	b.WriteString("the last line: big-token-end\n")
	return b.String()
}

// A message larger than the queue keeps inline goes through the daemon
// as a file and arrives whole everywhere: a maildir, an mbox, a program's
// stdin, a forward and a remote host (Postfix's smtp-sink). It is sent by
// Python's smtplib, and its body file leaves the queue with it.
func TestLargeMessageArrivesWholeEverywhere(t *testing.T) {
	need(t, "python3")
	sinkAddr := fmt.Sprintf("127.0.0.6:%d", freePort(t))
	sink := startSink(t, sinkAddr)
	_, port, _ := strings.Cut(sinkAddr, ":")
	root, addr, acct := setupRoot(t, "", map[string]string{
		"smtproutes": "far.example:127.0.0.6:" + port + "\n",
	})
	home := filepath.Join(root, "home")
	abs, _ := filepath.Abs(home)
	assign := filepath.Join(t.TempDir(), "assign")
	write(t, assign, fmt.Sprintf("+:%s:%d:%d:%s:-::\n.\n", acct.name, acct.uid, acct.gid, abs))
	os.MkdirAll(filepath.Join(root, "users"), 0o755)
	if out, err := qmailctl(t, root, "users", "import", assign); err != nil {
		t.Fatalf("users import: %v\n%s", err, out)
	}
	write(t, filepath.Join(home, ".qmail-big"), "./Maildir/\n./mbox-big\n|sha256sum > ./prog-sum\n&copy@localhost\n&x@far.example\n")
	write(t, filepath.Join(home, ".qmail-copy"), "./copy/\n")
	for _, d := range []string{"Maildir/tmp", "Maildir/new", "Maildir/cur", "copy/tmp", "copy/new", "copy/cur"} {
		os.MkdirAll(filepath.Join(home, d), 0o700)
	}
	chownTree(t, filepath.Dir(root), acct)
	d := startDaemon(t, root, addr, acct)

	body := bigBody()
	msgFile := filepath.Join(t.TempDir(), "msg")
	write(t, msgFile, "Subject: big\n\n"+body)
	host, p, _ := strings.Cut(addr, ":")
	py := fmt.Sprintf(`
import smtplib
data = open(%q, 'rb').read().replace(b'\n', b'\r\n')
with smtplib.SMTP(%q, %s, timeout=60) as s:
    s.sendmail('s@example.org', ['big@localhost'], data)
`, msgFile, host, p)
	if out, err := exec.Command("python3", "-c", py).CombinedOutput(); err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	bodies, _ := os.ReadDir(filepath.Join(root, "queue", "bodies"))
	if len(bodies) == 0 && !strings.Contains(d.log.String(), "end msg 1") {
		t.Fatal("the large message was not queued as a body file")
	}
	for rcpt, want := range map[string]string{"big@localhost": "success: did_2+2+1/", "copy@localhost": "success: did_1+0+0/", "x@far.example": "success: 127.0.0.6_accepted_message."} {
		if got := d.waitResult(t, rcpt); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %q, want %q", rcpt, got, want)
		}
	}

	// The queued form: our Received line, then the message with LF ends.
	files, _ := filepath.Glob(filepath.Join(home, "Maildir", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("Maildir/new holds %d files", len(files))
	}
	delivered := readFile(t, files[0])
	_, queued, _ := strings.Cut(delivered, "Delivered-To: big@localhost\n")
	if !strings.HasPrefix(queued, "Received: from ") || !strings.HasSuffix(queued, "Subject: big\n\n"+body) {
		t.Fatalf("the maildir copy is not the message (%d bytes, want a Received line and %d bytes)", len(queued), len(body))
	}
	sum := sha256.Sum256([]byte(queued))
	if got := strings.Fields(readFile(t, filepath.Join(home, "prog-sum"))); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("the program read something else on stdin: %v", got)
	}
	mbox := readFile(t, filepath.Join(home, "mbox-big"))
	quoted := strings.ReplaceAll(strings.ReplaceAll(queued, "\nFrom ", "\n>From "), "\n>From an already", "\n>>From an already")
	if !strings.HasSuffix(mbox, quoted+"\n") {
		t.Fatalf("the mbox copy is not the mboxrd form of the message (%d bytes)", len(mbox))
	}
	copies, _ := filepath.Glob(filepath.Join(home, "copy", "new", "*"))
	if len(copies) != 1 || !strings.HasSuffix(readFile(t, copies[0]), "Delivered-To: big@localhost\n"+queued) {
		t.Fatalf("the forwarded copy is not the message with the forwarder's Delivered-To line")
	}
	remote := containing(sink.messages(t), "big-token-end")
	if len(remote) != 1 {
		t.Fatalf("smtp-sink got %d copies", len(remote))
	}
	// smtp-sink writes what it received, unstuffed, with LF line ends and
	// one more at the end.
	if got := strings.ReplaceAll(remote[0], "\r\n", "\n"); !strings.HasSuffix(got, "Delivered-To: big@localhost\n"+queued+"\n") {
		_, tail, _ := strings.Cut(got, "Delivered-To: big@localhost\n")
		want := queued + "\n"
		i := 0
		for i < len(tail) && i < len(want) && tail[i] == want[i] {
			i++
		}
		t.Fatalf("smtp-sink's copy (%d bytes) differs from the message (%d bytes) at byte %d: %q, want %q", len(tail), len(want), i, tail[i:min(i+80, len(tail))], want[i:min(i+80, len(want))])
	}
	waitFor(t, "the body files to leave the queue", 10*time.Second, func() bool {
		left, _ := os.ReadDir(filepath.Join(root, "queue", "bodies"))
		return len(left) == 0
	})
}
