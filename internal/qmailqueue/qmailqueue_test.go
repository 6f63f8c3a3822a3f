package qmailqueue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qq")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitCodesAreQmails(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "got")
	for _, c := range []struct {
		body      string
		permanent bool
		text      string
	}{
		{"cat > " + out + ".msg; cat <&1 > " + out + ".env; exit 0", false, ""},
		{"cat >/dev/null; exit 31", true, "mail server permanently rejected message (#5.3.0)"},
		{"cat >/dev/null; exit 71", false, "mail server temporarily rejected message (#4.3.0)"},
		{"cat >/dev/null; exit 25", true, "qq permanent problem (#5.3.0)"},
		{"cat >/dev/null; exit 64", false, "qq trouble creating files in queue (#4.3.0)"},
		{"kill -9 $$", false, "qq crashed (#4.3.0)"},
		// It refuses before reading: its code wins over our write error.
		{"exec 0<&-; exit 31", true, "mail server permanently rejected message (#5.3.0)"},
	} {
		msg := strings.NewReader(strings.Repeat("x", 1<<20))
		err := Run(context.Background(), []string{script(t, c.body)}, Options{}, msg, "s@example.org", []string{"a@example.org", "b@example.net"})
		if c.text == "" {
			if err != nil {
				t.Errorf("%q: %v", c.body, err)
			}
			continue
		}
		if err == nil || outcome.Text(err) != c.text || outcome.IsPermanent(err) != c.permanent {
			t.Errorf("%q: got %v (permanent %v), want %q (permanent %v)", c.body, err, outcome.IsPermanent(err), c.text, c.permanent)
		}
	}
	env, _ := os.ReadFile(out + ".env")
	if string(env) != "Fs@example.org\x00Ta@example.org\x00Tb@example.net\x00\x00" {
		t.Errorf("envelope %q", env)
	}
	if fi, err := os.Stat(out + ".msg"); err != nil || fi.Size() != 1<<20 {
		t.Errorf("message: %v %v", fi, err)
	}
}

func TestTimeoutKillsTheProgramGroup(t *testing.T) {
	start := time.Now()
	err := Run(context.Background(), []string{script(t, "sleep 60 & wait")}, Options{Timeout: 300 * time.Millisecond},
		strings.NewReader("x\n"), "", []string{"a@example.org"})
	if err == nil || outcome.Text(err) != "qq timeout (#4.3.0)" || outcome.IsPermanent(err) {
		t.Fatalf("got %v, want a temporary qq timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v: the group was not killed", d)
	}
}
