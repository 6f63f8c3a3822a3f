package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// ChownQueue runs as root over a directory the daemon's account can
// write. A hard link or a symbolic link planted there must not make it
// hand over a file from elsewhere.
func TestChownQueueRefusesLinksPlantedInTheQueue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it checks what root's chown does to files planted in the queue")
	}
	daemon := &Owner{User: "daemon", UID: 4242, GID: 4243}
	base := t.TempDir()
	victim := filepath.Join(base, "root-owned")
	if err := os.WriteFile(victim, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(queue string) error
		want  string
	}{
		{"a hard link", func(q string) error { return os.Link(victim, filepath.Join(q, "planted")) }, "has 2 hard links"},
		{"a symbolic link", func(q string) error { return os.Symlink(victim, filepath.Join(q, "planted")) }, "is a symbolic link"},
		{"a fifo", func(q string) error { return syscall.Mkfifo(filepath.Join(q, "planted"), 0o600) }, "neither a file nor a directory"},
		// A character device: /dev/null's numbers, 1 and 3.
		{"a device", func(q string) error { return syscall.Mknod(filepath.Join(q, "planted"), syscall.S_IFCHR|0o600, 1<<8|3) }, "neither a file nor a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := For(filepath.Join(t.TempDir(), "root"))
			if err := Ensure(p, Options{Hostname: "h", ConfigText: "\n"}); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(p.Queue); errors.Is(err, syscall.EPERM) && tc.name == "a device" {
				t.Skipf("this machine refuses mknod even to root (%v), as containers do", err)
			} else if err != nil {
				t.Fatal(err)
			}
			err := ChownQueue(p, daemon)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(p.Queue, "planted")) {
				t.Fatalf("ChownQueue = %v, want an error naming the file and saying it %s", err, tc.want)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(victim, &st); err != nil || st.Uid != 0 || st.Gid != 0 {
				t.Fatalf("the root-owned file is now %d:%d (%v)", st.Uid, st.Gid, err)
			}
		})
	}

	t.Run("queue files of its own are handed over", func(t *testing.T) {
		p := For(filepath.Join(t.TempDir(), "root"))
		if err := Ensure(p, Options{Hostname: "h", ConfigText: "\n"}); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(p.Queue, "queue.db")
		if err := os.WriteFile(db, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := ChownQueue(p, daemon); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{p.Queue, p.Submit, db} {
			var st syscall.Stat_t
			if err := syscall.Lstat(path, &st); err != nil || int(st.Uid) != daemon.UID || int(st.Gid) != daemon.GID {
				t.Errorf("%s is %d:%d, want %d:%d (%v)", path, st.Uid, st.Gid, daemon.UID, daemon.GID, err)
			}
		}
	})
}
