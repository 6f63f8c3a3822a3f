package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

func TestAdministratorsBounceIsQSBMFWithTheLastAttempt(t *testing.T) {
	r := newRig(t, nil)
	r.local.answers["later@localhost"] = []Result{{Err: outcome.Temporary("Mailbox is over quota. (#4.2.2)")}}
	id := r.queue(t, "sender@example.org", "Subject: hello\n\nbody\n", "later@localhost", "ok@localhost")
	r.start()
	eventually(t, "the first attempts", func() bool {
		return len(r.local.tries("later@localhost")) == 1 && len(r.local.tries("ok@localhost")) == 1
	})
	eventually(t, "the deferral on record", func() bool {
		e, err := r.db.Entry(id)
		return err == nil && e.Recipients[0].Attempts == 1 && e.Recipients[1].State == store.Delivered
	})
	res, err := r.eng.Bounce(context.Background(), []store.Ref{{Msg: id, Index: 0}, {Msg: id, Index: 1}})
	if err != nil || res.Recipients != 1 || len(res.Ended) != 1 || res.Ended[0].Bounce == 0 {
		t.Fatalf("Bounce = %+v, %v", res, err)
	}
	eventually(t, "the bounce to be delivered", func() bool { return len(r.local.tries("sender@example.org")) == 1 })
	b := r.local.tries("sender@example.org")[0].body
	want := "<later@localhost>:\n" + AdminBounceText + "\nThe last attempt said: Mailbox is over quota. (#4.2.2)\n\n"
	if !strings.Contains(b, want) || strings.Contains(b, "<ok@localhost>") {
		t.Errorf("bounce:\n%s\nwant it to hold %q and not the delivered recipient", b, want)
	}
	eventually(t, "the log lines", func() bool {
		l := r.logText()
		return strings.Contains(l, "bounce msg "+itoa(id)+" qp "+itoa(res.Ended[0].Bounce)) && strings.Contains(l, "end msg "+itoa(id))
	})
}

// A delivery under way when its message is deleted ends without an
// alert and without the pause that a failure to record costs.
func TestResultOfADeletedMessageIsDropped(t *testing.T) {
	r := newRig(t, nil)
	r.local.hold = make(chan struct{})
	id := r.queue(t, "s@example.org", "x\n", "u@localhost")
	r.start()
	eventually(t, "the delivery to start", func() bool { return len(r.local.tries("u@localhost")) == 1 })
	if rm, err := r.db.Remove(context.Background(), []store.MsgID{id}); err != nil || len(rm.Messages) != 1 {
		t.Fatalf("Remove = %+v, %v", rm, err)
	}
	start := time.Now()
	r.local.hold <- struct{}{}
	eventually(t, "the dropped result", func() bool { return strings.Contains(r.logText(), "removed from the queue while it was under way") })
	r.stop()
	if time.Since(start) > 5*time.Second || strings.Contains(r.logText(), "alert:") {
		t.Errorf("after %v, log:\n%s", time.Since(start), r.logText())
	}
}
