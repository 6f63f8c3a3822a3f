package sendmail

import (
	"bufio"
	"fmt"
	"strings"
)

// Forward is qmail's forward, for .qmail program lines: it sends the
// message on stdin (to $QMAILQUEUE's program when set, as netqmail's
// does) to the addresses given, with $NEWSENDER as the
// envelope sender and $DTLINE (the Delivered-To line qmail-local set) on
// top, prints "forward: qp N", and exits 0, 100 (a permanent refusal, or
// no NEWSENDER or DTLINE) or 111.
func Forward(env *Env) int {
	if len(env.Args) < 2 {
		fmt.Fprintln(env.Stderr, "forward: usage: forward address ...")
		return 100
	}
	sender, ok := env.lookup("NEWSENDER")
	if !ok {
		fmt.Fprintln(env.Stderr, "forward: fatal: NEWSENDER not set")
		return 100
	}
	dt, ok := env.lookup("DTLINE")
	if !ok || dt == "" {
		fmt.Fprintln(env.Stderr, "forward: fatal: DTLINE not set")
		return 100
	}
	o, err := openQueue(env)
	if err != nil {
		return report(env, "forward", err)
	}
	id, pickedUp, err := o.send(sender, env.Args[1:], strings.NewReader(dt), bufio.NewReader(env.Stdin))
	if err != nil {
		return report(env, "forward", err)
	}
	if pickedUp {
		fmt.Fprintln(env.Stdout, "forward: qp pickup")
	} else {
		fmt.Fprintf(env.Stdout, "forward: qp %d\n", id)
	}
	return 0
}
