// Package sendmail is the local injection side of gqmail: the commands
// every Unix program hands mail to. Each is a thin main in cmd/ over one
// function here, with qmail's behaviour, options, exit codes and messages:
//
//   - qmail-queue (QmailQueue): the program interface. The message on
//     descriptor 0, the envelope ("F" sender NUL, "T" recipient NUL each,
//     NUL) on descriptor 1; exit 0, or one of qmail-queue's codes.
//   - qmail-inject (Inject): header rewriting, address qualification,
//     recipients from the arguments or the header.
//   - sendmail (Sendmail): the options qmail's sendmail wrapper takes,
//     mapped onto qmail-inject; -bs is an SMTP session, -bp the queue.
//   - mailq (Mailq): the queue, as sendmail -bp.
//   - forward (Forward): a .qmail program that sends the message on.
//
// None is setuid or setgid. A message goes to the daemon over its
// submission socket, which learns the caller's uid from the socket; when
// the daemon is not running it goes into the root's pickup directory,
// which the daemon imports when it starts (see frontends/inject). Either
// way the command exits 0 only once the message is on disk.
//
// The root is $GQMAIL_ROOT, else /var/qmail (internal/cli), so that the
// commands can be linked to /usr/sbin/sendmail and /var/qmail/bin.
package sendmail
