package tests

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syscallLine is one finished system call in strace -f -ttt -y output:
// a complete line, or the "resumed" half of one that other threads'
// output cut in two (its time is when it returned).
var syscallLine = regexp.MustCompile(`^\d+\s+(\d+\.\d+) (?:<\.\.\. (\w+) resumed>.*|(\w+)\((\d+)<([^>]*)>(?:, )?(.*)\)) = (-?\d+)`)

// traced is one finished call: what it was, the path of its descriptor
// and, for a write, the start of what it wrote. strace writes a call's
// finished line when it returns, so the file's order is the order in
// which calls returned.
type traced struct {
	call string
	path string
	data string
}

// readTrace reads the finished fdatasync, fsync and write calls of a trace.
// A resumed line names only its call; its descriptor is taken from the
// unfinished line of the same thread.
func readTrace(t *testing.T, file string) []traced {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unfinished := map[string]traced{} // by thread
	unfinishedRE := regexp.MustCompile(`^(\d+)\s+\d+\.\d+ (\w+)\((\d+)<([^>]*)>(?:, )?(.*) <unfinished \.\.\.>`)
	var out []traced
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := unfinishedRE.FindStringSubmatch(line); m != nil {
			unfinished[m[1]] = traced{call: m[2], path: m[4], data: m[5]}
			continue
		}
		m := syscallLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[7], "-") {
			continue // not a call, or one that failed
		}
		c := traced{call: m[3], path: m[5], data: m[6]}
		if m[2] != "" {
			c = unfinished[strings.Fields(line)[0]]
		}
		out = append(out, c)
	}
	return out
}

// The 250 that acknowledges a message is written only after the queue has
// synced it to disk: the queue database's fdatasync for a message held in
// it, and also the body file's and its directory's fsync for one held in a
// file. Watched from outside with strace, so that turning syncing off
// (bbolt's NoSync, say) fails this test though every other would pass.
func TestAcknowledgementFollowsTheSync(t *testing.T) {
	need(t, "strace")
	root, addr, acct := setupRoot(t, "", nil)
	trace := filepath.Join(filepath.Dir(root), "trace")
	cmd := command(acct, "strace", "-f", "-ttt", "-y", "-s", "48", "-e", "trace=fdatasync,fsync,write", "-o", trace, bin("qmaild"), "--root", root)
	d := startDaemonCmd(t, cmd, root, addr, acct, nil)

	small := "Subject: small\r\n\r\nsmall message\r\n"
	large := "Subject: large\r\n\r\n" + strings.Repeat("a line of a message larger than the queue keeps inline\r\n", 4000)
	sendMail(t, addr, "s@example.org", "u@localhost", small)
	sendMail(t, addr, "s@example.org", "u@localhost", large)
	waitFor(t, "both messages delivered", 15*time.Second, func() bool { return strings.Count(d.log.String(), "end msg") == 2 })
	stopTraced(t, d, root)

	calls := readTrace(t, trace)
	queueDB := filepath.Join(root, "queue", "queue.db")
	bodies := filepath.Join(root, "queue", "bodies")
	for id, body := range map[int]bool{1: false, 2: true} {
		ack := -1
		for i, c := range calls {
			if c.call == "write" && strings.HasPrefix(c.data, `"250 ok `) && strings.Contains(c.data, fmt.Sprintf(" qp %d\\r\\n", id)) {
				ack = i
			}
		}
		if ack < 0 {
			t.Fatalf("no 250 for message %d in the trace", id)
		}
		// The sync must come after DATA's 354 and before the 250.
		start := 0
		for i := ack; i >= 0; i-- {
			if calls[i].call == "write" && strings.HasPrefix(calls[i].data, `"354 `) {
				start = i
				break
			}
		}
		var dbSync, fileSync, dirSync bool
		for _, c := range calls[start:ack] {
			switch {
			case c.call == "fdatasync" && c.path == queueDB:
				dbSync = true
			case c.call == "fsync" && strings.HasPrefix(c.path, bodies+"/"):
				fileSync = true
			case c.call == "fsync" && c.path == bodies:
				dirSync = true
			}
		}
		if !dbSync {
			t.Errorf("message %d: 250 written with no fdatasync of %s since its DATA", id, queueDB)
		}
		if body && (!fileSync || !dirSync) {
			t.Errorf("message %d: 250 written before its body file (%v) and %s (%v) were synced", id, fileSync, bodies, dirSync)
		}
	}
}

// stopTraced stops the qmaild that runs under strace, which then ends.
func stopTraced(t *testing.T, d *daemon, root string) {
	t.Helper()
	for _, pid := range pidsWithArgs(t, true, bin("qmaild"), "--root", root) {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("qmaild under strace did not stop")
	}
}

// The trace reader takes every line form strace writes: pids of any
// width, calls cut in two by other threads' output, failed calls left out.
func TestReadTraceTakesEveryLineForm(t *testing.T) {
	file := filepath.Join(t.TempDir(), "trace")
	write(t, file, `2626  1796178417.881671 write(11<socket:[1]>, "354 go ahead\r\n", 14) = 14
2626  1796178417.892000 fdatasync(8</r/queue/queue.db> <unfinished ...>
12625 1796178417.892100 write(2<pipe:[2]>, "log line", 8 <unfinished ...>
2626  1796178417.893000 <... fdatasync resumed>) = 0
12625 1796178417.893100 <... write resumed>) = 8
2626  1796178417.894000 fsync(9</r/queue/bodies>) = -1 EIO (Input/output error)
2626  1796178417.939198 write(12<socket:[3]>, "250 ok 1796178417 qp 2\r\n", 24) = 24
`)
	got := readTrace(t, file)
	want := []traced{
		{"write", "socket:[1]", `"354 go ahead\r\n", 14`},
		{"fdatasync", "/r/queue/queue.db", ""},
		{"write", "pipe:[2]", `"log line", 8`},
		{"write", "socket:[3]", `"250 ok 1796178417 qp 2\r\n", 24`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("readTrace:\n%v\nwant\n%v", got, want)
	}
}
