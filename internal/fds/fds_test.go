package fds

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary runs itself as the process under test when this
// variable names the descriptors to keep.
const childEnv = "GQMAIL_FDS_TEST_KEEP"

func TestMain(m *testing.M) {
	if keep, ok := os.LookupEnv(childEnv); ok {
		os.Exit(child(keep))
	}
	os.Exit(m.Run())
}

// child sanitizes, then prints each descriptor from 3 to 9 as "fd:state"
// with state open, cloexec or closed.
func child(keep string) int {
	var k []int
	for _, f := range strings.Fields(keep) {
		n, _ := strconv.Atoi(f)
		k = append(k, n)
	}
	if err := Sanitize(k...); err != nil {
		os.Stdout.WriteString("error: " + err.Error())
		return 1
	}
	for fd := 3; fd <= 9; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		switch {
		case err != nil:
			os.Stdout.WriteString(strconv.Itoa(fd) + ":closed ")
		case flags&unix.FD_CLOEXEC != 0:
			os.Stdout.WriteString(strconv.Itoa(fd) + ":cloexec ")
		default:
			os.Stdout.WriteString(strconv.Itoa(fd) + ":open ")
		}
	}
	return 0
}

// Sanitize closes what a process inherited above 2 and keeps what it
// was told to keep, close-on-exec.
func TestSanitizeClosesInheritedDescriptorsButTheKeptOnes(t *testing.T) {
	var extra []*os.File
	for range 3 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		extra = append(extra, f)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=4")
	cmd.ExtraFiles = extra // descriptors 3, 4 and 5 in the child
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	got := strings.Fields(string(out))
	states := map[string]string{}
	for _, g := range got {
		fd, st, _ := strings.Cut(g, ":")
		states[fd] = st
	}
	if states["3"] != "closed" || states["5"] != "closed" {
		t.Errorf("inherited descriptors 3 and 5 are %s and %s, want closed (%v)", states["3"], states["5"], got)
	}
	if states["4"] != "cloexec" {
		t.Errorf("kept descriptor 4 is %s, want open and close-on-exec (%v)", states["4"], got)
	}
	for fd := 6; fd <= 9; fd++ {
		if st := states[strconv.Itoa(fd)]; st == "open" {
			t.Errorf("descriptor %d is open without close-on-exec after Sanitize (%v)", fd, got)
		}
	}
}
