// Command qmail-inject prepares a message as qmail's qmail-inject does
// (header rewriting, address qualification, recipients from the arguments
// or the header) and queues it. See frontends/sendmail.
package main

import (
	"os"

	"github.com/gqmail/gqmail/frontends/sendmail"
)

func main() { os.Exit(sendmail.Inject(sendmail.Std())) }
