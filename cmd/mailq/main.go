// Command mailq lists the queue of the running daemon, as qmail-qread and
// sendmail -bp do. See frontends/sendmail.
package main

import (
	"os"

	"github.com/gqmail/gqmail/frontends/sendmail"
)

func main() { os.Exit(sendmail.Mailq(sendmail.Std())) }
