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
		os.Stderr.WriteString("newaliases: fatal: gqmail does not read /etc/aliases; aliases are ~alias/.qmail-NAME files, as in qmail\n")
		os.Exit(100)
	}
	os.Exit(sendmail.Sendmail(env))
}
