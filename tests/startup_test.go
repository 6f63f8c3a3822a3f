package tests

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// runToFailure runs qmaild on root, expecting it to refuse to start, and
// returns what it printed. A qmaild that is still running after 30 s has
// started: it is killed and the test fails, rather than waiting for ever.
func runToFailure(t *testing.T, root string, acct account) string {
	t.Helper()
	cmd := command(acct, bin("qmaild"), "--root", root)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("qmaild: %v", err)
	}
	started := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !started.Stop() {
		t.Fatalf("qmaild was still running after 30 s: it started instead of refusing; output:\n%s", out.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("qmaild started (or failed oddly: %v); output:\n%s", err, out.String())
	}
	return out.String()
}

// oneLineNaming checks that the output is one line naming path.
func oneLineNaming(t *testing.T, out, path string, words ...string) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("output is not one line:\n%s", out)
	}
	for _, w := range append(words, path) {
		if !strings.Contains(out, w) {
			t.Errorf("output %q does not contain %q", out, w)
		}
	}
}

func TestStartupRefusals(t *testing.T) {
	t.Run("a malformed qmail.toml", func(t *testing.T) {
		root, _, acct := setupRoot(t, "listen_more = [\n", nil)
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, filepath.Join(root, "qmail.toml"), "line")
	})
	t.Run("tls.required without a certificate", func(t *testing.T) {
		root, _, acct := setupRoot(t, "[tls]\nrequired = true\n", nil)
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, filepath.Join(root, "control", "servercert.pem"), "tls.required", "no such file")
	})
	t.Run("tls.required with a broken certificate", func(t *testing.T) {
		root, _, acct := setupRoot(t, "[tls]\nrequired = true\n", map[string]string{"servercert.pem": "-----BEGIN CERTIFICATE-----\nnot base64\n"})
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, filepath.Join(root, "control", "servercert.pem"), "tls.required")
	})
	t.Run("an unknown key in qmail.toml", func(t *testing.T) {
		root, _, acct := setupRoot(t, "relay_form = [\"10.0.0.0/8\"]\n", nil)
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, filepath.Join(root, "qmail.toml"), "unknown key smtp.relay_form")
	})
	t.Run("an unwritable root", func(t *testing.T) {
		acct := daemonAccount(t)
		// A directory the daemon's account may read but not write.
		parent := t.TempDir()
		os.Chmod(parent, 0o555)
		defer os.Chmod(parent, 0o755)
		if os.Geteuid() == 0 && acct.uid == 0 {
			t.Skip("root can write anywhere")
		}
		root := filepath.Join(parent, "root")
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, root, "permission denied")
	})
	t.Run("a queue database of a newer schema", func(t *testing.T) {
		root, addr, acct := setupRoot(t, "", nil)
		d := startDaemon(t, root, addr, acct)
		d.stop()
		path := filepath.Join(root, "queue", "queue.db")
		b, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 99))
		})
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, path, "schema version 99", "newer")
	})
	t.Run("a malformed control file", func(t *testing.T) {
		root, _, acct := setupRoot(t, "", map[string]string{"me": "localhost\n", "databytes": "12x\n"})
		out := runToFailure(t, root, acct)
		oneLineNaming(t, out, filepath.Join(root, "control", "databytes"), "line 1")
	})
}
