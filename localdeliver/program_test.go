package localdeliver

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func run(t *testing.T, command string, lim programLimits) (programExit, error, time.Duration) {
	t.Helper()
	msg, _ := newMessage([]byte("Subject: x\n\nbody\n"), nil)
	var rep report
	start := time.Now()
	exit, _, err := runProgram(command, t.TempDir(), msg, nil, &rep, lim)
	return exit, err, time.Since(start)
}

// A program that runs too long is killed with everything in its process
// group, and the delivery is deferred.
func TestProgramPastItsTimeLimitIsKilledWithItsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	exit, err, took := run(t, "sleep 30 & echo $! > "+pidFile+"; wait", programLimits{timeout: 300 * time.Millisecond})
	if exit != programTemporary || err == nil || !strings.Contains(err.Error(), "Timeout: the program ran for more than 300ms") {
		t.Fatalf("exit %v, %v", exit, err)
	}
	if took > 5*time.Second {
		t.Fatalf("it took %v to give up", took)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("the program did not start its background process")
	}
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(pid, 0) == nil && !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the program's background process %d outlived the kill", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

// A program that exits while something it started keeps its output open
// counts by its exit status, after a short wait, not after that thing ends.
func TestProgramThatLeavesItsOutputOpenIsNotWaitedFor(t *testing.T) {
	exit, err, took := run(t, "sleep 5 & exit 0", programLimits{timeout: time.Minute, waitDelay: 200 * time.Millisecond})
	if exit != programOK || err != nil || took > 5*time.Second {
		t.Fatalf("exit %v, %v after %v", exit, err, took)
	}
}
