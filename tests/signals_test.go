package tests

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// qmail-send's signals: HUP does not stop the daemon (control files are
// read live anyway), ALRM retries everything queued now, TERM stops.
func TestSignals(t *testing.T) {
	root, addr, acct := setupRoot(t, "", nil)
	d := startDaemon(t, root, addr, acct)
	// Its DNS server does not answer: the recipient is deferred.
	sendMail(t, addr, "tester@localhost", "u@nowhere.example", "Subject: held\r\n\r\nx\r\n")
	waitFor(t, "the first attempt", 20*time.Second, func() bool { return len(d.results()["u@nowhere.example"]) == 1 })

	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the hangup line", 10*time.Second, func() bool { return strings.Contains(d.log.String(), "status: hangup") })
	select {
	case <-d.done:
		t.Fatal("SIGHUP stopped the daemon")
	default:
	}

	d.cmd.Process.Signal(syscall.SIGALRM)
	waitFor(t, "the retry ALRM asks for", 20*time.Second, func() bool { return len(d.results()["u@nowhere.example"]) == 2 })
	if !strings.Contains(d.log.String(), "status: alarm: 1 queued recipients due now") {
		t.Errorf("no alarm line:\n%s", d.log)
	}
	d.stop()
	if !strings.Contains(d.log.String(), "status: exiting") {
		t.Errorf("SIGTERM did not stop cleanly:\n%s", d.log)
	}
}
