// Package dotqmail is the pure logic of qmail-local's .qmail handling: it
// finds the .qmail file for one delivery, parses it into instructions, and
// computes the names and environment that go with it (NEWSENDER, DEFAULT,
// the program environment, the Delivered-To loop check).
//
// It runs inside the per-user delivery child, as the user, with the working
// directory at the user's home; relative names are relative to the home.
// It never delivers anything: it writes no mailbox or maildir, runs no
// program, forwards nothing, and never writes to the file system at all.
// Failures are *outcome.Error values whose Text is qmail's own.
//
// The format below is that of qmail 1.03 / netqmail 1.06 (dot-qmail(5) and
// qmail-local.c), and is the reference for this package.
//
// # File names and lookup order
//
// qmail-local is given a dash ("" for a user's own address, "-" for an
// extension address) and an extension ext. safeext is ext with ASCII
// letters lowercased and every "." replaced by ":"; nothing else changes.
// Find first tries ".qmail" + dash + safeext and then, cutting safeext at
// each "-" from the right, the "default" names:
//
//	dash  ext      files tried, in order
//	""    ""       .qmail, .qmaildefault (a quirk of qmail's loop, kept)
//	"-"   ""       .qmail-, .qmail-default
//	"-"   "a"      .qmail-a, .qmail-default
//	"-"   "a-"     .qmail-a-, .qmail-a-default, .qmail-default
//	"-"   "a-b"    .qmail-a-b, .qmail-a-default, .qmail-default
//	"-"   "a-b-c"  .qmail-a-b-c, .qmail-a-b-default, .qmail-a-default, .qmail-default
//
// So "P.D.Q.Bach" looks for ".qmail-p:d:q:bach". A file exists when it
// opens and is a regular file. An open failing with EACCES, EPERM or an
// error qmail counts as temporary (EIO, ENOMEM, EAGAIN, EMFILE, ...) is a
// temporary failure "Unable to open <name>: <error>. (#4.3.0)"; any other
// failure (ENOENT, ENOTDIR, ELOOP, a directory, a FIFO) means the name does
// not exist and the next one is tried. Files are opened non-blocking, as
// qmail's open_read does, so a FIFO cannot hang the delivery.
//
// A file writable by its group or by others is a temporary failure "Uh-oh:
// .qmail file is writable. (#4.7.0)". qmail checks only others; the group
// check is ours, since anyone in the group could otherwise make the user run
// any program.
//
// Beyond qmail: a name that contains "/" (an ext holding a "/") is never
// opened or stat'ed; it is treated as absent. qmail would open
// ".qmail-a/b" inside a directory ".qmail-a" of the home; here no
// extension can make a lookup leave the home's top level. The dots of ext
// are already ":" in safeext, so no name can hold a ".." component anyway.
//
// When nothing is found and dash is not empty, the address does not exist:
// NoMailbox, "Sorry, no mailbox here by that name. (#5.1.1)", permanent.
// When nothing is found and dash is empty (the user's own address), or the
// file is empty, qmail-local uses its defaultdelivery argument as the
// contents (and forgets the x bit). That choice is the caller's.
//
// DEFAULT is set when the chosen name ends in "default": its value is the
// part of the original-case ext that "default" stood for. For ext "foo-Bar",
// ".qmail-foo-default" gives "Bar" and ".qmail-default" gives "foo-Bar". As
// in qmail, a name matched exactly whose safeext ends in "default" also sets
// it: ext "list-DEFAULT" found as ".qmail-list-default" gives "DEFAULT".
//
// # Line kinds
//
// The file is split at "\n" (a missing final newline is supplied, so empty
// contents are one blank line). From each line trailing spaces and tabs are
// removed; a "\r" is not, as qmail does not remove it, so a file saved with
// CRLF line ends names "./Mailbox\r". Then the first byte decides:
//
//	(empty)     ignored, except as the first line of the file: temporary
//	            "Uh-oh: first line of .qmail file is blank. (#4.2.1)"
//	#           comment
//	. or /      file delivery; the whole line is the path. Ending in "/" it
//	            is a maildir, otherwise an mbox
//	|           program; the rest of the line is given to /bin/sh -c
//	&           forward to the rest of the line
//	+           "+list" exactly turns on forward-only mode for the lines
//	            after it; any other "+" line is ignored
//	other       forward; the whole line is the address
//
// A program line that runs dot-forward ("|dot-forward .forward") is still a
// Program here; the delivery child recognises it (dotforward.Command) and
// reads the .forward itself instead of running a shell.
//
// Forward addresses are taken verbatim: no qualification, no brackets, no
// comments. A file holding only comments (or "+" lines) has no instructions
// and is not empty: nothing is delivered and the delivery succeeds. As in
// qmail, where a line is a C string, a NUL byte ends the line's value (a
// line starting with one is blank), while "ends in /" still looks at the
// last byte of the whole line.
//
// # The forward-only x bit and +list
//
// A .qmail file with its owner-execute bit set (mode 0100) is forward-only:
// any file or maildir line is the temporary failure "Uh-oh: .qmail has file
// delivery but has x bit set. (#4.7.0)", any program line "Uh-oh: .qmail
// has prog delivery but has x bit set. (#4.7.0)". The undocumented "+list"
// line has the same effect on the lines that follow it. qmail finds these
// when it reaches the line, after delivering the lines before it;
// CheckForwardOnly finds them before anything is delivered, so a temporary
// failure never leaves a partial delivery to be repeated on retry.
//
// # NEWSENDER and -owner files
//
// Forwarded copies keep the original envelope sender, unless the sender is
// neither empty nor "#@[]" and ".qmail" + dash + safeext + "-owner" exists
// (stat succeeds): then the sender is "local-owner@domain", or, when
// "...-owner-default" exists too, the VERP form "local-owner-@domain-@[]",
// which qmail-send expands per recipient. The names come from ext, not from
// the default file actually used. A stat failing with a temporary error is
// the temporary failure "Unable to open <name>: <error>. (#4.3.0)".
//
// # The program environment
//
// Programs run with these variables on top of the inherited environment;
// every value is raw, unquoted and may come from an attacker:
//
//	USER, HOME           the user and home directory
//	LOCAL, HOST          local part (original case) and domain of the recipient
//	HOST2, HOST3, HOST4  HOST cut before its last, second-to-last and
//	                     third-to-last dot; a cut that finds no more dots
//	                     leaves the previous value (a.b gives a, a, a)
//	RECIPIENT            local@domain
//	SENDER               the envelope sender ("" or "#@[]" possibly)
//	NEWSENDER            the sender for forwards, as above
//	EXT                  the extension
//	EXT2, EXT3, EXT4     EXT after its first, second, third "-"; empty if
//	                     there are not that many
//	DEFAULT              only when a "default" file was chosen
//	DTLINE, RPLINE,      the Delivered-To, Return-Path and mbox From_ lines,
//	UFLINE               each ending in "\n"
//
// # Loops
//
// A message whose header (the lines before the first empty line) already
// holds a line byte-identical to "Delivered-To: local@domain" is looping:
// Loop, "This message is looping: it already has my Delivered-To line.
// (#5.4.6)", permanent.
package dotqmail
