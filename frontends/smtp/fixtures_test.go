package smtp

import (
	"strings"
	"testing"

	"github.com/gqmail/gqmail/fixtures"
)

// Every message of the shared fixture set gets qmail-smtpd's reply, is
// queued only when accepted, and after a bare line end nothing more is
// read from the connection.
func TestFixtureMessagesGetQmailReplies(t *testing.T) {
	set := fixtures.SMTPDataSet()
	if len(set) == 0 {
		t.Fatal("no fixtures")
	}
	for _, fx := range set {
		t.Run(fx.Name, func(t *testing.T) {
			f := newFixture(t, basicControls)
			c, _ := dial(t, f.addr)
			c.do("HELO x\r\n")
			c.do("MAIL FROM:<s@sender.example>\r\n")
			c.do("RCPT TO:<u@example.org>\r\n")
			if got := c.do("DATA\r\n"); !strings.HasPrefix(got, "354") {
				t.Fatalf("DATA: %q", got)
			}
			got := c.do(string(fx.Data))
			if !strings.HasPrefix(got, fx.Code+" ") {
				t.Fatalf("reply %q, want %s", got, fx.Code)
			}
			queued := len(f.queue.all())
			if (fx.Code == "250") != (queued == 1) || queued > 1 {
				t.Fatalf("reply %s but %d messages queued", fx.Code, queued)
			}
			if fx.Code == "451" {
				if next := c.reply(); !strings.HasPrefix(next, "EOF") {
					t.Fatalf("the connection went on after the refusal: %q", next)
				}
			}
		})
	}
}
