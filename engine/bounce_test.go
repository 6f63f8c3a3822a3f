package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/store"
)

func bouncer(t *testing.T) *Bouncer {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "me"), []byte("mx.example.org\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "locals"), []byte("mx.example.org\n"), 0o644)
	ctl := control.Open(dir, nil)
	return &Bouncer{Controls: ctl, Now: func() time.Time { return time.Unix(0, 0) }}
}

func failed(addr string) []store.RecipientState {
	return []store.RecipientState{{Recipient: store.Recipient{Address: addr}, State: store.Failed, LastText: "Sorry. (#5.1.1)"}}
}

// However an address got into the queue, a bounce never turns a line end
// in it into a header line of its own.
func TestBounceHeadersHoldNoLineEndsFromAddresses(t *testing.T) {
	b := bouncer(t)
	env := &store.Envelope{ID: 1, Sender: "s@example.org\nBcc: victim@example.org", Size: 6}
	msg, _ := b.Bounce(env, failed("u@x\r\nX-Injected: yes"), []byte("body\n"))
	head, _, _ := strings.Cut(string(msg.Body), "\n\n")
	for _, line := range strings.Split(string(msg.Body), "\n") {
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "X-Injected:") {
			t.Fatalf("an address became the line %q:\n%s", line, msg.Body)
		}
	}
	if !strings.Contains(head, "To: s@example.org_Bcc: victim@example.org") {
		t.Fatalf("header:\n%s", head)
	}
}

// A message larger than what a bounce copies is cut at a line end, and
// the bounce says how long it was.
func TestBounceOfALargeMessageCopiesItsStart(t *testing.T) {
	b := bouncer(t)
	head := bytes.Repeat([]byte("0123456789\n"), 100)
	head = append(head, "partial"...)
	env := &store.Envelope{ID: 1, Sender: "s@example.org", Size: 5000000}
	msg, _ := b.Bounce(env, failed("u@far.example"), head)
	body := string(msg.Body)
	if !strings.Contains(body, "The message was 5000000 bytes long; below are its first 1100.\n\n--- Below this line is a copy of the message.\n") {
		t.Fatalf("bounce:\n%s", body)
	}
	if strings.Contains(body, "partial") || !strings.HasSuffix(body, "0123456789\n") {
		t.Fatal("the copy is not cut at a line end")
	}
}
