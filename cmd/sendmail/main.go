// Command sendmail is qmail's sendmail wrapper: sendmail's options (-t,
// -f, -F, -bp, -bs, and the ones it ignores) mapped onto qmail-inject.
// Link it to /usr/sbin/sendmail and /usr/lib/sendmail (qmailctl
// install-links). See frontends/sendmail.
package main

import (
	"os"
	"path/filepath"

	"github.com/gqmail/gqmail/frontends/sendmail"
)

func main() {
	env := sendmail.Std()
	switch filepath.Base(os.Args[0]) {
	case "mailq": // sendmail -bp
		os.Exit(sendmail.Mailq(env))
	case "newaliases":
		os.Stderr.WriteString("sendmail: fatal: please use qmailctl aliases import /etc/aliases instead\n")
		os.Exit(100)
	}
	os.Exit(sendmail.Sendmail(env))
}
