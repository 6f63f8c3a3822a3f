// Command forward sends the message on stdin to the addresses given, with
// $NEWSENDER as the sender and $DTLINE on top, as qmail's forward does in
// .qmail program lines. See frontends/sendmail.
package main

import (
	"os"

	"github.com/gqmail/gqmail/frontends/sendmail"
)

func main() { os.Exit(sendmail.Forward(sendmail.Std())) }
