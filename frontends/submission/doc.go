// Package submission is the client side of gqmail's local submission: how
// sendmail, qmail-inject, qmail-queue, forward, mailq and qmaild smtpd
// hand a message to the daemon, through its socket (submit/inject.sock)
// or, when the daemon is down or has no room for them, through the pickup
// directory. It defines the socket's protocol and the pickup file's
// format; frontends/inject is the daemon's side of both.
//
// Neither this package nor anything it imports uses package net or
// os/user, which need cgo: the commands built on it link statically and
// start in about a third less time than they would otherwise, which is
// most of what a sendmail run costs (tests/imports_test.go keeps it so).
//
// # Protocol
//
// Over a Unix stream socket, in frames (internal/frame). The server speaks
// first, on every connection:
//
//	server  "hello/3" letter text             ("K": go on; "Z": refused, text says why, then closed)
//
// so a client learns that the daemon is too busy for it before it sends a
// byte of the message, and can put the message in the pickup directory
// instead. Then any number of submissions one after the other, each:
//
//	client  "submit/3" [kind]                 ("smtp" from qmaild smtpd: no trace line, if its uid is trusted)
//	client  "data" bytes                      (any number, each at most 64 KiB)
//	client  "rcpt" address...                 (any number, each frame at most 1 MiB; 100,000 in all)
//	client  "commit" sender origin-kind remote-ip helo
//	server  "result/2" letter text message-id(8)
//
// or, to list the queue (mailq, sendmail -bp; any local user may, as
// Postfix's mailq allows):
//
//	client  "list/2"
//	server  "msg" id(8) received(8, unix seconds) size(8) sender   (one per message)
//	server  "rcpt" address channel state attempts(8) next(8) last-text   (after its msg)
//	server  "end"
//
// or, instead of "commit", "abort", which throws the message away and is
// not answered. letter is internal/outcome's: "K" (queued; the accept
// transaction is on disk), "Z" (temporary failure, try again) or "D"
// (permanent failure). The
// message is written to disk as its data frames arrive (store.Spool), so
// what a submitter can make the daemon hold in memory is one frame.
//
// The daemon and the commands are one release: a client of another
// protocol version is answered that this daemon speaks another, and
// nothing it sent is queued.
package submission
