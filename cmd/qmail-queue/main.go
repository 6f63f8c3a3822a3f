// Command qmail-queue queues the message on descriptor 0 with the envelope
// on descriptor 1, as qmail's qmail-queue does, for software written for
// qmail (ezmlm, filters behind QMAILQUEUE). See frontends/sendmail.
package main

import (
	"os"

	"github.com/gqmail/gqmail/frontends/sendmail"
)

func main() { os.Exit(sendmail.QmailQueue(sendmail.Std())) }
