package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// Python's smtplib and swaks each deliver a message to the quick-start
// Maildir, and mblaze reads both back.
func TestSmtplibAndSwaksDeliverToMaildirReadByMblaze(t *testing.T) {
	need(t, "python3", "swaks", "mlist", "mshow")
	root, addr, acct := setupRoot(t, "", nil)
	startDaemon(t, root, addr, acct)
	host, port, _ := strings.Cut(addr, ":")

	py := fmt.Sprintf(`
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "py@example.org"
m["To"] = "alice@localhost"
m["Subject"] = "token-smtplib"
m.set_content("sent by smtplib\n")
with smtplib.SMTP(%q, %s, timeout=30) as s:
    s.send_message(m)
`, host, port)
	if out, err := exec.Command("python3", "-c", py).CombinedOutput(); err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	out, err := exec.Command("swaks", "--server", addr, "--from", "sw@example.org", "--to", "bob@localhost",
		"--header", "Subject: token-swaks", "--body", "sent by swaks\nFrom the start of a line\n").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	waitFor(t, "two messages in Maildir/new", 15*time.Second, func() bool { return len(maildirNew(t, root)) == 2 })

	maildir := filepath.Join(root, "home", "Maildir")
	list, err := exec.Command("mlist", maildir).Output()
	if err != nil {
		t.Fatalf("mlist %s: %v", maildir, err)
	}
	files := strings.Fields(string(list))
	if len(files) != 2 {
		t.Fatalf("mlist found %d messages: %q", len(files), list)
	}
	seen := map[string]bool{}
	for _, f := range files {
		out, err := exec.Command("mshow", "-n", "-N", f).Output()
		if err != nil {
			t.Fatalf("mshow %s: %v", f, err)
		}
		text := string(out)
		for token, body := range map[string]string{"token-smtplib": "sent by smtplib", "token-swaks": "sent by swaks"} {
			if strings.Contains(text, token) && strings.Contains(text, body) {
				seen[token] = true
			}
		}
		body, err := exec.Command("mshow", "-n", "-q", "-h", "return-path:delivered-to", f).Output()
		if err != nil {
			t.Fatalf("mshow %s: %v", f, err)
		}
		if !strings.Contains(string(body), "Delivered-To: ") || !strings.Contains(string(body), "Return-Path: <") {
			t.Errorf("%s lacks qmail's Return-Path or Delivered-To:\n%s", f, body)
		}
	}
	if !seen["token-smtplib"] || !seen["token-swaks"] {
		t.Fatalf("mshow did not show both messages: %v", seen)
	}
}

// With ./Mailbox as the default delivery the messages go to an mbox that
// mblaze's mdeliver splits back into the messages, unquoting ">From ".
func TestMboxIsReadBackByMblaze(t *testing.T) {
	need(t, "swaks", "mdeliver", "mlist", "mshow")
	root, addr, acct := setupRoot(t, "[delivery]\ndefaultdelivery = \"./Mailbox\"\n", nil)
	startDaemon(t, root, addr, acct)
	bodies := []string{"first message\nFrom the start of a line\n>From already quoted\n", "second message\n"}
	for i, body := range bodies {
		out, err := exec.Command("swaks", "--server", addr, "--from", "mbox@example.org", "--to", "carol@localhost",
			"--header", fmt.Sprintf("Subject: mbox-%d", i), "--body", body).CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
	}
	mbox := filepath.Join(root, "home", "Mailbox")
	waitFor(t, "two messages in the Mailbox", 15*time.Second, func() bool {
		b, _ := os.ReadFile(mbox)
		return strings.Count(string(b), "\nSubject: mbox-") == 2
	})
	raw, _ := os.ReadFile(mbox)
	if !strings.HasPrefix(string(raw), "From mbox@example.org ") || !strings.Contains(string(raw), "\n>From the start") || !strings.Contains(string(raw), "\n>>From already") {
		t.Fatalf("mbox is not in qmail's mboxrd form:\n%s", raw)
	}

	split := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.Mkdir(filepath.Join(split, d), 0o700)
	}
	cmd := exec.Command("mdeliver", "-M", split)
	f, _ := os.Open(mbox)
	defer f.Close()
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mdeliver -M: %v\n%s", err, out)
	}
	list, _ := exec.Command("mlist", split).Output()
	files := strings.Fields(string(list))
	if len(files) != 2 {
		t.Fatalf("mblaze split the mbox into %d messages, want 2", len(files))
	}
	found := false
	for _, f := range files {
		out, _ := exec.Command("mshow", "-n", "-N", f).Output()
		if strings.Contains(string(out), "mbox-0") {
			found = true
			if !strings.Contains(string(out), "\nFrom the start of a line\n>From already quoted\n") {
				t.Fatalf("mboxrd quoting did not round-trip:\n%s", out)
			}
		}
	}
	if !found {
		t.Fatal("the first message is not in the mbox")
	}
}

// queueContents stops the daemon and opens its queue database.
func queueContents(t *testing.T, d *daemon) (msgs int, rcpts []store.RecipientState) {
	t.Helper()
	d.stop()
	db, err := store.Open(filepath.Join(d.root, "queue", "queue.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	envs, err := db.List(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		rs, err := db.Recipients(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		rcpts = append(rcpts, rs...)
	}
	return len(envs), rcpts
}

func TestRelayOnlyForRelayClients(t *testing.T) {
	// Only 127.0.0.2 may relay; other sessions come from 127.0.0.1.
	root, addr, acct := setupRoot(t, "relay_from = [\"127.0.0.2/32\"]\n", nil)
	d := startDaemon(t, root, addr, acct)

	s := dialSMTPFrom(t, addr, "127.0.0.1")
	s.send("HELO test\r\n")
	s.send("MAIL FROM:<a@example.org>\r\n")
	if got := s.send("RCPT TO:<x@remote.example>\r\n"); got != "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)" {
		t.Fatalf("RCPT from a client that may not relay: %q", got)
	}
	if got := s.send("DATA\r\n"); !strings.HasPrefix(got, "5") {
		t.Fatalf("DATA without an accepted recipient: %q", got)
	}
	s.send("QUIT\r\n")

	r := dialSMTPFrom(t, addr, "127.0.0.2")
	r.send("HELO relay\r\n")
	r.send("MAIL FROM:<a@example.org>\r\n")
	if got := r.send("RCPT TO:<x@remote.example>\r\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("RCPT from a relay client: %q", got)
	}
	r.expect2("DATA\r\n", "354")
	if got := r.send("Subject: relayed\r\n\r\nhi\r\n.\r\n"); !strings.HasPrefix(got, "250 ok ") {
		t.Fatalf("end of data from a relay client: %q", got)
	}
	r.send("QUIT\r\n")

	waitFor(t, "the remote recipient to be tried once", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), "to remote x@remote.example")
	})
	msgs, rcpts := queueContents(t, d)
	if msgs != 1 || len(rcpts) != 1 {
		t.Fatalf("queue holds %d messages and %+v; want only the relayed one", msgs, rcpts)
	}
	if r := rcpts[0]; r.Address != "x@remote.example" || r.Channel != route.Remote || r.State != store.Pending {
		t.Fatalf("relayed recipient = %+v; want pending on the remote channel", r)
	}
}

// Unlike qmail, a missing control/rcpthosts does not make an open relay:
// only the local domains are accepted.
func TestNoRcpthostsIsNotAnOpenRelay(t *testing.T) {
	root, addr, acct := setupRoot(t, "relay_from = []\n", map[string]string{"me": "mx.example.org\n", "locals": "localhost\n"})
	startDaemon(t, root, addr, acct)
	if _, err := os.Stat(filepath.Join(root, "control", "rcpthosts")); err == nil {
		t.Fatal("control/rcpthosts exists; the test needs it missing")
	}
	s := dialSMTP(t, addr)
	s.send("HELO test\r\n")
	s.send("MAIL FROM:<a@example.org>\r\n")
	if got := s.send("RCPT TO:<x@remote.example>\r\n"); !strings.HasPrefix(got, "553 ") {
		t.Fatalf("remote recipient without rcpthosts: %q", got)
	}
	if got := s.send("RCPT TO:<u@localhost>\r\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("local recipient without rcpthosts: %q", got)
	}
}

func TestBareLFRefusedAndNothingQueued(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	d := startDaemon(t, root, addr, acct)
	s := dialSMTP(t, addr)
	s.send("HELO test\r\n")
	s.send("MAIL FROM:<a@example.org>\r\n")
	s.send("RCPT TO:<u@localhost>\r\n")
	s.expect2("DATA\r\n", "354")
	if got := s.send("Subject: x\r\n\r\nbare\nLF\r\n.\r\n"); got != "451 See https://cr.yp.to/docs/smtplf.html." {
		t.Fatalf("bare LF: %q", got)
	}
	if line, err := s.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open after the bare LF refusal: %q", line)
	}
	if msgs, _ := queueContents(t, d); msgs != 0 {
		t.Fatalf("%d messages queued after a bare LF refusal", msgs)
	}
	if n := len(maildirNew(t, root)); n != 0 {
		t.Fatalf("%d messages delivered after a bare LF refusal", n)
	}
}

func TestDatabytesLimit(t *testing.T) {
	root, addr, acct := setupRoot(t, "", map[string]string{"me": "localhost\n", "databytes": "1000\n"})
	startDaemon(t, root, addr, acct)
	s := dialSMTP(t, addr)
	s.send("HELO test\r\n")
	s.send("MAIL FROM:<a@example.org>\r\n")
	s.send("RCPT TO:<u@localhost>\r\n")
	s.expect2("DATA\r\n", "354")
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 50) + ".\r\n"
	if got := s.send(big); got != "552 sorry, that message size exceeds my databytes limit (#5.3.4)" {
		t.Fatalf("over databytes: %q", got)
	}
	// The session goes on, and a message under the limit is taken.
	s.send("MAIL FROM:<a@example.org>\r\n")
	s.send("RCPT TO:<u@localhost>\r\n")
	s.expect2("DATA\r\n", "354")
	if got := s.send("Subject: small\r\n\r\nfits\r\n.\r\n"); !strings.HasPrefix(got, "250 ok ") {
		t.Fatalf("under databytes: %q", got)
	}
	waitFor(t, "the small message", 10*time.Second, func() bool { return len(maildirNew(t, root)) == 1 })
	b, _ := os.ReadFile(maildirNew(t, root)[0])
	if !strings.Contains(string(b), "Subject: small") {
		t.Fatalf("delivered the wrong message:\n%s", b)
	}
}

// Control files are read live: a change applies to the next connection
// without a restart, and a broken file is reported with its name and line
// while the last good value stays in force.
func TestControlFilesAreLive(t *testing.T) {
	root, addr, acct := setupRoot(t, "", map[string]string{"me": "localhost\n", "databytes": "1000\n"})
	d := startDaemon(t, root, addr, acct)
	dataOf := func(n int) string {
		return "Subject: size\r\n\r\n" + strings.Repeat("x", n) + "\r\n.\r\n"
	}
	try := func(n int) string {
		t.Helper()
		s := dialSMTP(t, addr)
		s.send("HELO test\r\n")
		s.send("MAIL FROM:<a@example.org>\r\n")
		s.send("RCPT TO:<u@localhost>\r\n")
		s.expect2("DATA\r\n", "354")
		return s.send(dataOf(n))
	}
	if got := try(2000); !strings.HasPrefix(got, "552 ") {
		t.Fatalf("2000 bytes with databytes 1000: %q", got)
	}
	databytes := filepath.Join(root, "control", "databytes")
	// A different size makes the change visible even within one mtime tick.
	write(t, databytes, "12x\n")
	if got := try(2000); !strings.HasPrefix(got, "552 ") {
		t.Fatalf("a broken databytes did not keep the last good value: %q", got)
	}
	waitFor(t, "the warning naming the file and line", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), databytes+" line 1")
	})
	write(t, databytes, "50000\n")
	if got := try(2000); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("after databytes was raised: %q", got)
	}
}

// msmtp, the sendmail-like client many desktops and cron jobs use, hands
// a message to gqmail over SMTP, pipelining included.
func TestMsmtpDelivers(t *testing.T) {
	need(t, "msmtp")
	root, addr, acct := setupRoot(t, "", nil)
	startDaemon(t, root, addr, acct)
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("msmtp", "--host="+host, "--port="+port, "--auth=off", "--tls=off", "--from=ms@example.org", "carol@localhost")
	cmd.Stdin = strings.NewReader("Subject: token-msmtp\n\nsent by msmtp\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msmtp: %v\n%s", err, out)
	}
	waitFor(t, "the message in Maildir/new", 15*time.Second, func() bool { return len(maildirContaining(t, root, "token-msmtp")) == 1 })
	if m := maildirContaining(t, root, "token-msmtp")[0]; !strings.Contains(m, "Return-Path: <ms@example.org>") || !strings.Contains(m, "sent by msmtp") {
		t.Fatalf("delivered:\n%s", m)
	}
}
