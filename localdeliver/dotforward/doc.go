// Package dotforward is dot-forward built in: what a user's .forward file
// says, read with dot-forward 0.71's rules, and the .qmail lines that say
// the same. It is pure logic: it reads and writes nothing, runs nothing and
// forwards nothing. The delivery child (localdeliver) acts on what Parse
// returns, as the user; qmailctl forward convert writes what ToQmail
// returns.
//
// # Where it runs
//
// A .qmail line (or a line of [delivery] defaultdelivery) that Command
// recognises is not given to /bin/sh: the delivery child does what
// dot-forward would do, itself, so no dot-forward binary is needed. Command
// recognises
//
//	|dot-forward [-nN] FILE...
//	|/any/absolute/path/dot-forward [-nN] FILE...
//
// when the line holds nothing the shell would interpret (only letters,
// digits, spaces and tabs, and / . _ - + , : @ %); any other line is a
// program as before. qmail's documented setup is the default delivery
// "|dot-forward .forward\n./Mailbox".
//
// # Files
//
// The FILEs are tried in order, relative to the home; the first one that
// holds an instruction is used and the rest are ignored. A missing file
// (ENOENT, ENOTDIR), an empty one and one of comments only count as absent.
// When none is used, the delivery goes on with the next .qmail line, as
// when dot-forward exits 0. Beyond dot-forward, as sendmail does: a FILE
// writable by its group or by others is the temporary failure "Uh-oh:
// .forward file is writable. (#4.7.0)", since anyone who can write it can
// make the user run any program; one that is not a regular file, cannot be
// opened for another reason, or is larger than MaxSize is a temporary
// failure naming it.
//
// # Format
//
// The file is read line by line. A line whose first byte is "#" is a
// comment. Every other line is a list of RFC 822 addresses separated by
// commas: comments in parentheses, "Name <address>", quoted strings and
// domain literals are allowed, colons and semicolons are ignored, and a
// backslash outside quotes escapes the byte after it. Words written side
// by side without a comma are separate addresses, as in dot-forward, so a
// program with arguments must be quoted: "|/usr/bin/vacation joe". Each
// address, without its quotes, is then one of
//
//	user, \user       the user's own name (ASCII case ignored): Self,
//	user@HOST         "deliver to me" (HOST: the recipient's domain)
//	|command          (no "@" token) a program: Program, run by /bin/sh -c
//	/path             (no "@" token) a file: File, mbox, or maildir when
//	                  it ends in "/"
//	anything else     an address: Forward, qualified as qmail-inject and
//	                  newaliases qualify (internal/address.Qualifier, from
//	                  control/defaulthost, plusdomain, defaultdomain and me)
//
// A backslash before any other name ("\bob") is dropped, so the name is
// qualified as a local address. ":include:" is not supported, as in
// dot-forward; neither is a line that does not parse (an unclosed quote,
// comment, literal or angle bracket, a NUL byte). Parse reports every bad
// line at once, with its number.
//
// # Acting on it (the delivery child)
//
//   - Program: /bin/sh -c command, as the user, in the home, with the .qmail
//     program environment; its standard input is UFLINE, RPLINE and DTLINE
//     followed by the message, as dot-forward gives it. Exit 0 goes on;
//     64, 65, 70, 76, 77, 78, 100 and 112 bounce; anything else (99 too)
//     defers.
//   - File: appended as a .qmail mbox (or maildir) line would be, as the
//     user. dot-forward refuses files; sendmail delivers them, and so do we.
//   - Forward: collected with the .qmail file's own forwards, sent with
//     NEWSENDER and the Delivered-To line, in the transaction that records
//     the delivery (dot-forward sends them at once, through qmail-queue).
//   - Self: after the rest of the file is done, the delivery goes on with
//     the next .qmail line (dot-forward's exit 0). Without Self, the rest of
//     the .qmail file is skipped (exit 99).
//   - With -n nothing is done: the instructions are written into the
//     delivery report and the delivery goes on with the next line.
//
// Lines are acted on in file order, addresses of a line from left to right
// (dot-forward takes a line's addresses from right to left). Any failure
// ends the delivery, and nothing is forwarded.
//
// # Converting (qmailctl forward convert)
//
// ToQmail writes Forward as "&address", Program as "|command", File as the
// path, and Self as the default delivery's lines, once, at the end (where
// dot-forward's exit 0 would go on). A program then no longer gets the
// From_, Return-Path and Delivered-To lines before the message; they are
// in $UFLINE, $RPLINE and $DTLINE.
package dotforward
