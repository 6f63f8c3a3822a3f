package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// qctl runs qmailctl --root root with args and stdin, and returns its
// stdout, its stderr and its exit code.
func qctl(t *testing.T, root, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin("qmailctl"), append([]string{"--root", root}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &exit):
		return out.String(), errb.String(), exit.ExitCode()
	}
	t.Fatalf("qmailctl %v: %v", args, err)
	return "", "", -1
}

// qctlOK is qctl for a command that must succeed.
func qctlOK(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, errs, code := qctl(t, root, "", args...)
	if code != 0 {
		t.Fatalf("qmailctl %v: exit %d: %s%s", args, code, out, errs)
	}
	return out
}

// listedMessage is the JSON object of queue list --json, as README.md
// documents it.
type listedMessage struct {
	ID          uint64 `json:"id"`
	ArrivalTime int64  `json:"arrival_time"`
	Sender      string `json:"sender"`
	Size        int64  `json:"message_size"`
	Bouncing    bool   `json:"bouncing"`
	Origin      struct {
		Kind     string `json:"kind"`
		RemoteIP string `json:"remote_ip"`
		HELO     string `json:"helo"`
		UID      int    `json:"uid"`
	} `json:"origin"`
	Recipients []struct {
		Address     string `json:"address"`
		Channel     string `json:"channel"`
		State       string `json:"state"`
		Attempts    int    `json:"attempts"`
		NextAttempt int64  `json:"next_attempt"`
		LastResult  string `json:"last_result"`
	} `json:"recipients"`
	Header  *string `json:"header"`
	Message *string `json:"message"`
}

func listJSON(t *testing.T, root string, args ...string) map[string]listedMessage {
	t.Helper()
	out := qctlOK(t, root, append([]string{"queue", "list", "--json"}, args...)...)
	got := map[string]listedMessage{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m listedMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("list --json line %q: %v", line, err)
		}
		got[m.Sender] = m
	}
	return got
}

// Three messages deferred to a closed port and two held, listed,
// counted, shown, and changed one command at a time, while twenty SMTP
// sessions keep sending local mail: each command changes exactly what
// it names, and no accept fails.
func TestQueueAdministrationWhileMailFlows(t *testing.T) {
	closed := freePort(t)
	root, addr, acct := setupRoot(t, "", map[string]string{
		"me":         "localhost\n",
		"smtproutes": fmt.Sprintf(":127.0.0.1:%d\n", closed),
	})
	startDaemon(t, root, addr, acct)

	// The load: 20 sessions sending to a local mailbox until the end.
	var sent, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				err := smtp.SendMail(addr, nil, "load@localhost", []string{"load@localhost"}, fmt.Appendf(nil, "Subject: load %d-%d\r\n\r\nload\r\n", i, n))
				if err != nil {
					failed.Add(1)
					t.Errorf("a load session: %v", err)
					return
				}
				sent.Add(1)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	senders := []string{"d1@localhost", "d2@localhost", "d3@localhost", "h1@localhost", "h2@localhost"}
	for i, s := range senders {
		sendMail(t, addr, s, fmt.Sprintf("r%d@far.example", i+1), fmt.Sprintf("Subject: token-%s\r\n\r\nbody-of-%s\r\n", s[:2], s[:2]))
	}
	waitFor(t, "the first attempt of all five", 30*time.Second, func() bool {
		got := listJSON(t, root, "--domain", "far.example")
		for _, s := range senders {
			if m, ok := got[s]; !ok || m.Recipients[0].Attempts != 1 {
				return false
			}
		}
		return true
	})
	ids := map[string]uint64{}
	for s, m := range listJSON(t, root, "--domain", "far.example") {
		ids[s] = m.ID
	}
	id := func(s string) string { return fmt.Sprint(ids[s]) }
	if out := qctlOK(t, root, "queue", "hold", id("h1@localhost"), id("h2@localhost")); out != "hold: 2 messages, 2 recipients\n" {
		t.Fatalf("hold: %q", out)
	}

	// list --json, field by field.
	start := time.Now()
	got := listJSON(t, root, "--domain", "far.example")
	if len(got) != 5 {
		t.Fatalf("list --domain far.example: %d messages: %+v", len(got), got)
	}
	for i, s := range senders {
		m := got[s]
		r := m.Recipients
		switch {
		case m.ArrivalTime > start.Unix() || m.ArrivalTime < start.Add(-time.Minute).Unix():
			t.Errorf("%s: arrival_time %d", s, m.ArrivalTime)
		case m.Size < int64(len("Subject: token-d1\n\nbody-of-d1\n")) || m.Bouncing:
			t.Errorf("%s: message_size %d, bouncing %v", s, m.Size, m.Bouncing)
		case m.Origin.Kind != "smtp" || m.Origin.RemoteIP != "127.0.0.1" || m.Origin.UID != -1:
			t.Errorf("%s: origin %+v", s, m.Origin)
		case len(r) != 1 || r[0].Address != fmt.Sprintf("r%d@far.example", i+1) || r[0].Channel != "remote" || r[0].Attempts != 1:
			t.Errorf("%s: recipients %+v", s, r)
		case !strings.Contains(r[0].LastResult, "wasn't able to establish an SMTP connection"):
			t.Errorf("%s: last_result %q", s, r[0].LastResult)
		case s[0] == 'd' && (r[0].State != "deferred" || r[0].NextAttempt < m.ArrivalTime+300):
			t.Errorf("%s: deferred recipient %+v", s, r[0])
		case s[0] == 'h' && (r[0].State != "held" || r[0].NextAttempt != 0):
			t.Errorf("%s: held recipient %+v", s, r[0])
		}
	}
	if held := listJSON(t, root, "--state", "held"); len(held) != 2 || held["h1@localhost"].ID == 0 || held["h2@localhost"].ID == 0 {
		t.Errorf("list --state held: %+v", held)
	}

	// list in qmail-qread's form.
	text := qctlOK(t, root, "queue", "list", "--domain", "far.example")
	for i, s := range senders {
		mark := "\t"
		if s[0] == 'h' {
			mark = "  held\t"
		}
		re := fmt.Sprintf(`(?m)^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT  #%d  %d  <%s> \n%sremote\tr%d@far\.example$`,
			ids[s], got[s].Size, regexp.QuoteMeta(s), mark, i+1)
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("list has no qmail-qread entry for %s:\n%s", s, text)
		}
	}

	// stat and stat --json.
	stat := qctlOK(t, root, "queue", "stat")
	if !regexp.MustCompile(`^messages in queue: \d+\nmessages in queue but not yet preprocessed: 0\n$`).MatchString(stat) {
		t.Errorf("stat: %q", stat)
	}
	var st struct {
		Messages  int            `json:"messages"`
		NotPre    int            `json:"messages_not_preprocessed"`
		ByState   map[string]int `json:"recipients_by_state"`
		ByChannel map[string]int `json:"waiting_by_channel"`
		Oldest    int64          `json:"oldest_arrival_time"`
		Age       int64          `json:"oldest_age_seconds"`
		Bytes     int64          `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(qctlOK(t, root, "queue", "stat", "--json", "--domain", "far.example")), &st); err != nil {
		t.Fatal(err)
	}
	var bytesHeld int64
	oldest := got[senders[0]].ArrivalTime
	for _, m := range got {
		bytesHeld += m.Size
		oldest = min(oldest, m.ArrivalTime)
	}
	if st.Messages != 5 || st.NotPre != 0 || st.ByState["deferred"] != 3 || st.ByState["held"] != 2 || st.ByState["pending"] != 0 ||
		st.ByChannel["remote"] != 5 || st.ByChannel["local"] != 0 || st.Bytes != bytesHeld || st.Oldest != oldest || st.Age < 0 || st.Age > 120 {
		t.Errorf("stat --json: %+v (bytes want %d, oldest %d)", st, bytesHeld, oldest)
	}

	// show and show --json.
	show := qctlOK(t, root, "queue", "show", id("d1@localhost"))
	for _, want := range []string{"message: " + id("d1@localhost") + "\n", "sender: <d1@localhost>\n", "origin: smtp from 127.0.0.1",
		"recipient: <r1@far.example> remote deferred\n  attempts: 1\n  next attempt: ", "  last result: Sorry, I wasn't able to establish an SMTP connection.",
		"\nSubject: token-d1\n"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "body-of-d1") {
		t.Errorf("show without --body shows the body:\n%s", show)
	}
	var sj listedMessage
	json.Unmarshal([]byte(qctlOK(t, root, "queue", "show", "--json", id("h1@localhost"))), &sj)
	if sj.ID != ids["h1@localhost"] || sj.Recipients[0].State != "held" || sj.Header == nil || !strings.Contains(*sj.Header, "Subject: token-h1\n") || sj.Message != nil {
		t.Errorf("show --json: %+v", sj)
	}
	if body := qctlOK(t, root, "queue", "show", "--body", id("d2@localhost")); !strings.Contains(body, "\n\nbody-of-d2\n") {
		t.Errorf("show --body:\n%s", body)
	}
	if _, _, code := qctl(t, root, "", "queue", "show", "999999"); code != 100 {
		t.Errorf("show of no such message: exit %d, want 100", code)
	}

	// Each change does what it names and nothing else.
	attempts := func() map[string]string {
		out := map[string]string{}
		for s, m := range listJSON(t, root, "--domain", "far.example") {
			out[s] = fmt.Sprintf("%s/%d", m.Recipients[0].State, m.Recipients[0].Attempts)
		}
		return out
	}
	expect := func(what string, want map[string]string) {
		t.Helper()
		waitFor(t, what, 20*time.Second, func() bool { return fmt.Sprint(attempts()) == fmt.Sprint(want) })
	}
	if out := qctlOK(t, root, "queue", "retry", "--dry-run", "ALL"); !strings.HasPrefix(out, "retry: ") || !strings.Contains(out, "dry run") {
		t.Errorf("retry --dry-run: %q", out)
	}
	if out := qctlOK(t, root, "queue", "retry", id("d1@localhost")); out != "retry: 1 messages, 1 recipients\n" {
		t.Errorf("retry: %q", out)
	}
	expect("retry of d1", map[string]string{"d1@localhost": "deferred/2", "d2@localhost": "deferred/1", "d3@localhost": "deferred/1", "h1@localhost": "held/1", "h2@localhost": "held/1"})

	if out := qctlOK(t, root, "queue", "hold", "--rcpt", "R2@far.example", "ALL"); out != "hold: 1 messages, 1 recipients\n" {
		t.Errorf("hold --rcpt: %q", out)
	}
	expect("hold of d2", map[string]string{"d1@localhost": "deferred/2", "d2@localhost": "held/1", "d3@localhost": "deferred/1", "h1@localhost": "held/1", "h2@localhost": "held/1"})
	// A held recipient is not made due by retry.
	qctlOK(t, root, "queue", "retry", id("d2@localhost"))
	// mailq shows it as qmailctl does.
	if out, code := run(t, []string{"GQMAIL_ROOT=" + root}, "mailq"); code != 0 || !strings.Contains(out, "  held\tremote\tr2@far.example\n\t\t1 attempts, held: Sorry,") {
		t.Errorf("mailq: exit %d:\n%s", code, out)
	}

	if out := qctlOK(t, root, "queue", "release", id("h1@localhost")); out != "release: 1 messages, 1 recipients\n" {
		t.Errorf("release: %q", out)
	}
	expect("release of h1", map[string]string{"d1@localhost": "deferred/2", "d2@localhost": "held/1", "d3@localhost": "deferred/1", "h1@localhost": "deferred/2", "h2@localhost": "held/1"})

	if out, _, code := qctl(t, root, id("d3@localhost")+"\n", "queue", "delete", "-"); code != 0 || out != "delete: 1 messages, 1 recipients\n" {
		t.Errorf("delete -: %q, exit %d", out, code)
	}
	expect("delete of d3", map[string]string{"d1@localhost": "deferred/2", "d2@localhost": "held/1", "h1@localhost": "deferred/2", "h2@localhost": "held/1"})

	// The held h2 bounced: its bounce reaches the local sender.
	if out := qctlOK(t, root, "queue", "bounce", "--sender", "h2@localhost"); out != "bounce: 1 messages, 1 recipients\n" {
		t.Errorf("bounce: %q", out)
	}
	expect("bounce of h2", map[string]string{"d1@localhost": "deferred/2", "d2@localhost": "held/1", "h1@localhost": "deferred/2"})
	waitFor(t, "the bounce in h2's Maildir", 20*time.Second, func() bool {
		return len(maildirContaining(t, root, "body-of-h2")) == 1
	})
	b := maildirContaining(t, root, "body-of-h2")[0]
	for _, want := range []string{"To: h2@localhost\n", "<r5@far.example>:\nThis message was removed from the queue by the administrator. (#5.0.0)\n",
		"The last attempt said: Sorry, I wasn't able to establish an SMTP connection.", "--- Below this line is a copy of the message.\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("bounce lacks %q:\n%s", want, b)
		}
	}
	if len(maildirContaining(t, root, "body-of-d3")) != 0 {
		t.Error("the deleted message bounced")
	}

	// The listing pipes into a change, as postqueue -j into postsuper.
	list := qctlOK(t, root, "queue", "list", "--json", "--state", "held")
	if out, _, code := qctl(t, root, list, "queue", "delete", "--dry-run", "-"); code != 0 || out != "delete: 1 messages, 1 recipients (dry run: nothing changed)\n" {
		t.Errorf("list --json | delete --dry-run -: %q, exit %d", out, code)
	}
	if failed.Load() != 0 || sent.Load() == 0 {
		t.Errorf("load: %d sent, %d failed", sent.Load(), failed.Load())
	}
	t.Logf("%d messages accepted from the 20 load sessions meanwhile", sent.Load())
}

// Stopped, the daemon's queue is still listed and counted, read-only;
// a change says that it needs the daemon.
func TestQueueCommandsWithTheDaemonStopped(t *testing.T) {
	closed := freePort(t)
	root, addr, acct := setupRoot(t, "", map[string]string{"me": "localhost\n", "smtproutes": fmt.Sprintf(":127.0.0.1:%d\n", closed)})
	d := startDaemon(t, root, addr, acct)
	sendMail(t, addr, "s@localhost", "r@far.example", "Subject: stopped\r\n\r\nx\r\n")
	waitFor(t, "the first attempt", 20*time.Second, func() bool {
		return strings.Contains(qctlOK(t, root, "queue", "list", "--json"), `"attempts":1`)
	})
	if os.Geteuid() == 0 {
		// Another user reaches neither the socket nor the database.
		cmd := exec.Command(bin("qmailctl"), "--root", root, "queue", "stat")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "permission denied") {
			t.Errorf("queue stat as nobody: %v: %s", err, out)
		}
	}
	d.stop()
	if got := listJSON(t, root); len(got) != 1 || got["s@localhost"].Recipients[0].State != "deferred" {
		t.Errorf("list with the daemon stopped: %+v", got)
	}
	if out := qctlOK(t, root, "queue", "stat"); out != "messages in queue: 1\nmessages in queue but not yet preprocessed: 0\n" {
		t.Errorf("stat with the daemon stopped: %q", out)
	}
	if _, errs, code := qctl(t, root, "", "queue", "hold", "ALL"); code != 111 || !strings.Contains(errs, "daemon is not running") {
		t.Errorf("hold with the daemon stopped: exit %d, %s", code, errs)
	}
	if os.Geteuid() == 0 {
		// The daemon's account, which owns queue/, puts a link to a
		// queue database only root may read (another root's, say)
		// where queue.db was: root's listing refuses it and shows
		// nothing of it.
		db := filepath.Join(root, "queue", "queue.db")
		data, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		secret := filepath.Join(t.TempDir(), "root-only.db")
		if err := os.WriteFile(secret, bytes.ReplaceAll(data, []byte("s@localhost"), []byte("SeKr3t@host")), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(db, db+".kept"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, db); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(db, acct.uid, acct.gid); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"queue", "list"}, {"queue", "list", "--json"}, {"queue", "stat"}} {
			out, errs, code := qctl(t, root, "", args...)
			if code == 0 || !strings.Contains(errs, "queue.db") || strings.Contains(out+errs, "SeKr3t") {
				t.Errorf("%v as root over a queue.db linked to a root-only file: exit %d\n%s%s", args, code, out, errs)
			}
		}
	}
}
