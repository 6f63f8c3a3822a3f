package remotedeliver

import (
	"context"
	"slices"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gqmail/gqmail/internal/outcome"
)

// Recipients of one domain go in one transaction, and each gets the
// result of its own RCPT reply.
func TestDeliverGroupKeepsEachRecipientsResult(t *testing.T) {
	port, ls := listenSame(t, "127.0.0.2")
	p := startPeer(t, ls[0],
		refusing("b@one.example", 550, gosmtp.EnhancedCode{5, 1, 1}, "no such user"),
		refusing("c@one.example", 450, gosmtp.EnhancedCode{4, 2, 0}, "mailbox busy"))
	dns := startDNS(t, "one.example. MX 10 mx.one.example.\nmx.one.example. A 127.0.0.2\n")
	d := newDeliverer(t, dns, port, nil)
	res := d.DeliverGroup(context.Background(), "s@sender.test", []string{"a@one.example", "b@one.example", "c@one.example"}, Bytes(body))
	if res[0].Err != nil || !strings.HasPrefix(res[0].Report, "127.0.0.2 accepted message.\n") {
		t.Errorf("a: %+v", res[0])
	}
	if !outcome.IsPermanent(res[1].Err) || !strings.Contains(outcome.Text(res[1].Err), "550 5.1.1 no such user") {
		t.Errorf("b: %+v", res[1])
	}
	if res[2].Err == nil || outcome.IsPermanent(res[2].Err) || !strings.Contains(outcome.Text(res[2].Err), "450 4.2.0 mailbox busy") {
		t.Errorf("c: %+v", res[2])
	}
	msgs := p.messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].to, []string{"a@one.example"}) || p.connections() != 1 {
		t.Fatalf("peer got %d connections and %+v", p.connections(), msgs)
	}
}

// A recipient the first host defers goes to the next one; the others are
// not sent twice.
func TestDeliverGroupTriesTheNextHostForDeferredRecipients(t *testing.T) {
	port, ls := listenSame(t, "127.0.0.2", "127.0.0.3")
	first := startPeer(t, ls[0], refusing("c@two.example", 450, gosmtp.EnhancedCode{4, 2, 0}, "busy"))
	second := startPeer(t, ls[1])
	dns := startDNS(t, twoMX)
	d := newDeliverer(t, dns, port, nil)
	rcpts := []string{"a@two.example", "b@two.example", "c@two.example"}
	res := d.DeliverGroup(context.Background(), "s@sender.test", rcpts, Bytes(body))
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", rcpts[i], r.Err)
		}
	}
	if !strings.HasPrefix(res[2].Report, "127.0.0.3 accepted") || !strings.HasPrefix(res[0].Report, "127.0.0.2 accepted") {
		t.Errorf("reports: %q, %q", res[0].Report, res[2].Report)
	}
	if m := first.messages(); len(m) != 1 || !slices.Equal(m[0].to, []string{"a@two.example", "b@two.example"}) {
		t.Errorf("first host got %+v", m)
	}
	if m := second.messages(); len(m) != 1 || !slices.Equal(m[0].to, []string{"c@two.example"}) {
		t.Errorf("second host got %+v", m)
	}
}
