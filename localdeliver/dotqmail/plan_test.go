package dotqmail

import (
	"testing"

	"github.com/gqmail/gqmail/internal/outcome"
)

func TestInstructionsFollowQmailLocal(t *testing.T) {
	cases := []struct {
		name      string
		t         Target
		dash      string
		want      string // kind and value of the first instruction, or the error text
		permanent bool
	}{
		{"a missing file for an extension bounces", Target{}, "-", "Sorry, no mailbox here by that name. (#5.1.1)", true},
		{"a missing file for the user is the default", Target{}, "", "mbox ./Mailbox", false},
		{"an empty file is the default, x bit or not", Target{Name: ".qmail", Contents: []byte{}, ForwardOnly: true}, "", "mbox ./Mailbox", false},
		{"a file is its lines", Target{Name: ".qmail-x", Contents: []byte("./Maildir/\n")}, "-", "maildir ./Maildir/", false},
		{"the x bit refuses file lines", Target{Name: ".qmail-x", Contents: []byte("./box\n"), ForwardOnly: true}, "-",
			"Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			instrs, err := c.t.Instructions(c.dash, "./Mailbox")
			got := ""
			if err != nil {
				got = outcome.Text(err)
				if outcome.IsPermanent(err) != c.permanent {
					t.Errorf("permanent = %v, want %v", outcome.IsPermanent(err), c.permanent)
				}
			} else {
				got = instrs[0].Kind.String() + " " + instrs[0].Value
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
