package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startRelayed starts sh -c script with its stderr on a pipe that a
// goroutine drains, as importAsOwner starts the queue writer.
func startRelayed(t *testing.T, script string) (*exec.Cmd, *os.File, chan struct{}) {
	t.Helper()
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stderr = errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// What the script leaves behind goes with the test.
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	errW.Close()
	copied := make(chan struct{})
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := errR.Read(buf); err != nil {
				break
			}
		}
		close(copied)
	}()
	return cmd, errR, copied
}

// waitWithin runs waitBounded, failing the test if it has not returned
// within limit.
func waitWithin(t *testing.T, cmd *exec.Cmd, errR *os.File, copied chan struct{}, grace, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- waitBounded(cmd, errR, copied, grace) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("waitBounded still waiting after %v with a grace of %v: the wait has no bound", limit, grace)
		return nil
	}
}

// A queue writer that does not exit once its socket is closed is killed:
// root does not wait for it for ever.
func TestWaitKillsAChildThatDoesNotExit(t *testing.T) {
	cmd, errR, copied := startRelayed(t, "exec sleep 1000")
	err := waitWithin(t, cmd, errR, copied, 200*time.Millisecond, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Fatalf("waitBounded = %v, want the child killed", err)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.Exited() {
		t.Fatalf("the child was not killed: %v", cmd.ProcessState)
	}
}

// A process the child leaves behind, holding its stderr, does not hold
// the relay, and so root, for ever either.
func TestWaitStopsARelayHeldOpenByAGrandchild(t *testing.T) {
	cmd, errR, copied := startRelayed(t, "sleep 1000 & exit 0")
	if err := waitWithin(t, cmd, errR, copied, 200*time.Millisecond, 10*time.Second); err != nil {
		t.Fatalf("waitBounded = %v for a child that exited 0", err)
	}
}

func TestWaitReturnsAtOnceForAChildThatExits(t *testing.T) {
	cmd, errR, copied := startRelayed(t, "echo bye >&2; exit 3")
	start := time.Now()
	err := waitWithin(t, cmd, errR, copied, 10*time.Second, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("waitBounded = %v, want exit status 3", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}
