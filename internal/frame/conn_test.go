package frame

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, theirs, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := FileConn(theirs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// A descriptor sent with a frame arrives with that frame, whatever
// frames without descriptors come around it.
func TestConnCarriesADescriptorWithItsFrame(t *testing.T) {
	a, b := pair(t)
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, []byte("the body"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	go func() {
		a.Write(nil, []byte("first"))
		a.Write(f, []byte("second"))
		a.Write(nil, []byte("third"))
	}()
	for _, want := range []string{"first", "second", "third"} {
		fields, fd, err := b.Read()
		if err != nil || len(fields) != 1 || string(fields[0]) != want {
			t.Fatalf("Read = %q, %v; want %q", fields, err, want)
		}
		if (fd != nil) != (want == "second") {
			t.Fatalf("frame %q came with descriptor %v", want, fd)
		}
		if fd == nil {
			continue
		}
		got, _ := io.ReadAll(fd)
		if string(got) != "the body" {
			t.Fatalf("the descriptor reads %q", got)
		}
		flags, _ := unix.FcntlInt(fd.Fd(), unix.F_GETFD, 0)
		if flags&unix.FD_CLOEXEC == 0 {
			t.Error("a received descriptor is not close-on-exec")
		}
		fd.Close()
	}
	a.Close()
	if _, _, err := b.Read(); err != io.EOF {
		t.Fatalf("after the peer closed: %v, want io.EOF", err)
	}
}

// A frame that claims a descriptor none came with is refused, and so
// is a descriptor on a plain stream.
func TestConnRefusesAFrameThatClaimsAMissingDescriptor(t *testing.T) {
	a, b := pair(t)
	hdr := binary.BigEndian.AppendUint32(nil, 2|withFD)
	go a.f.Write(append(hdr, 1, 'x'))
	if _, _, err := b.Read(); !errors.Is(err, ErrDescriptors) {
		t.Fatalf("Read = %v, want ErrDescriptors", err)
	}
}

// A peer that sends descriptors no frame claims cannot make the reader
// hold more than maxQueuedFDs of them.
func TestConnBoundsUnclaimedDescriptors(t *testing.T) {
	a, b := pair(t)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	wrote := make(chan struct{})
	defer func() { a.Close(); <-wrote }()
	go func() {
		defer close(wrote)
		for range maxQueuedFDs + 8 {
			// One byte of a frame header per message, each with a
			// descriptor no frame will claim.
			if err := a.sendRights([]byte{0}, int(devnull.Fd())); err != nil {
				return
			}
		}
		a.f.Write([]byte{0, 0, 0, 0})
	}()
	for range 3 * maxQueuedFDs {
		if _, _, err = b.Read(); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrDescriptors) {
		t.Fatalf("Read = %v, want ErrDescriptors once more than %d are queued", err, maxQueuedFDs)
	}
	if n := len(b.fdr.fds); n > maxQueuedFDs {
		t.Fatalf("%d descriptors held", n)
	}
}

// A descriptor that is not a Unix stream socket is refused.
func TestFileConnRefusesWhatIsNoUnixStreamSocket(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := FileConn(r); err == nil {
		t.Fatal("a pipe was taken")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := FileConn(os.NewFile(uintptr(fds[0]), "dgram")); err == nil {
		t.Fatal("a datagram socket was taken")
	}
}

// CloseRead wakes a Read blocked in another goroutine.
func TestCloseReadWakesAReader(t *testing.T) {
	_, b := pair(t)
	done := make(chan error)
	go func() { _, _, err := b.Read(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := b.CloseRead(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("Read = %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after CloseRead")
	}
}
