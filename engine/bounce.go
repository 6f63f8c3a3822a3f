package engine

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/store"
)

// doubleBounceSender is the envelope sender of a double bounce; mail from
// it that fails is discarded (a triple bounce).
const doubleBounceSender = "#@[]"

// Bouncer writes qmail-send's bounce messages (QSBMF) for the recipients
// of a message that failed.
type Bouncer struct {
	Controls *control.Dir
	Now      func() time.Time
}

// Bounce returns the bounce for a finished message, or nil when nothing
// failed or the failure must be discarded (a double bounce that failed).
// discarded reports the latter. head is the message, or its first part
// when env.Size is larger: qmail copies the whole message into a bounce,
// gqmail copies at most store.InlineMax bytes of it, cut at a line end,
// and says so, so that a bounce never costs more than a small message.
func (b *Bouncer) Bounce(env *store.Envelope, rcpts []store.RecipientState, head []byte) (msg *store.NewMessage, discarded bool) {
	var failed []store.RecipientState
	for _, r := range rcpts {
		if r.State == store.Failed {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return nil, false
	}
	if env.Sender == doubleBounceSender {
		return nil, true
	}
	now := b.Now()
	bounceHost := b.Controls.BounceHost()
	var to, envSender string
	double := env.Sender == ""
	if double {
		to = b.Controls.DoubleBounceTo() + "@" + b.Controls.DoubleBounceHost()
		envSender = doubleBounceSender
	} else {
		to = unVERP(env.Sender)
	}

	var m strings.Builder
	fmt.Fprintf(&m, "Received: (gqmail %d invoked for bounce); %s\n", env.ID, date822.Format(now))
	fmt.Fprintf(&m, "Date: %s\n", date822.Format(now))
	fmt.Fprintf(&m, "From: %s@%s\n", b.Controls.BounceFrom(), bounceHost)
	fmt.Fprintf(&m, "To: %s\n", oneLine(to))
	m.WriteString("Subject: failure notice\n\n")
	fmt.Fprintf(&m, "Hi. This is the qmail-send program at %s.\n", bounceHost)
	if double {
		m.WriteString("I tried to deliver a bounce message to this address, but the bounce bounced!\n\n")
	} else {
		m.WriteString("I'm afraid I wasn't able to deliver your message to the following addresses.\n")
		m.WriteString("This is a permanent error; I've given up. Sorry it didn't work out.\n\n")
	}
	for _, r := range failed {
		fmt.Fprintf(&m, "<%s>:\n%s\n", oneLine(r.Address), reportEntry(r.LastText))
	}
	if int64(len(head)) < env.Size {
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
			head = head[:i+1]
		}
		fmt.Fprintf(&m, "The message was %d bytes long; below are its first %d.\n\n", env.Size, len(head))
	}
	if double {
		m.WriteString("--- Below this line is the original bounce.\n\n")
	} else {
		m.WriteString("--- Below this line is a copy of the message.\n\n")
	}
	fmt.Fprintf(&m, "Return-Path: <%s>\n", oneLine(env.Sender))
	m.Write(head)
	return &store.NewMessage{
		Sender:     envSender,
		Recipients: []string{to},
		Origin:     store.Origin{Kind: "bounce", UID: -1},
		Body:       []byte(m.String()),
	}, false
}

// reportEntry formats a failure report as qmail-send's bounce/ file does:
// it ends in a newline, and has no blank line inside (the second newline
// of each pair becomes "/").
func reportEntry(text string) string {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	for strings.Contains(text, "\n\n") {
		text = strings.Replace(text, "\n\n", "\n/", 1)
	}
	return text
}

// oneLine makes an address safe to write into a header line: the
// frontends refuse addresses with a CR, LF or NUL, and a bounce never
// turns one that got in another way into a header line of its own (qmail
// turns "\n" into "_" in the recipient lines).
func oneLine(addr string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return '_'
		}
		return r
	}, addr)
}

// unVERP turns a VERP sender "pre@host-@[]" back into "pre@host".
func unVERP(sender string) string {
	if s, ok := strings.CutSuffix(sender, address.VERPSuffix); ok {
		return s
	}
	return sender
}
