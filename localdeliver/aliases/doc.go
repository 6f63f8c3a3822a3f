// Package aliases is gqmail's sendmail-style alias table: it reads an
// /etc/aliases file with fastforward's newaliases syntax (ParseFile),
// keeps the result in ROOT/users/aliases.db (WriteTable, Table), and turns
// an alias into the .qmail lines the alias account's delivery child runs
// (Alias.Lines). It reads files and writes the table; it never delivers.
// This comment is the reference for the file format.
//
// # Where it applies
//
// Delivery consults the table only for an address that no user owns:
// after users/assign and the password file, where qmail hands the address
// to the alias account, and only when that account has no specific
// .qmail file for it: when dotqmail's lookup in ~alias would come to
// .qmail-default or to nothing. That is where fastforward sits, run from
// ~alias/.qmail-default. A real user named like an alias therefore still
// gets their own mail.
//
// # Logical lines
//
// A physical line that starts with a space or a tab continues the logical
// line before it; the line end is dropped and the continuation kept as it
// is. Empty lines are skipped and do not end a logical line. A logical line
// whose first byte is "#" is a comment (its continuations too). A line
// holding a NUL byte or a carriage return is bad, as is a continuation at
// the start of the file.
//
// # Aliases
//
// Every other logical line is
//
//	name: recipient, recipient, ...
//
// The name runs to the first ":"; it is "local" (the alias at every local
// domain), "local@domain" (at that domain only) or "@domain" (every local
// part at that domain, a catch-all). It holds no white space, control
// characters, quotes, commas or brackets, and does not start with "|",
// "/", "\" or ":". Names are compared in lowercase. A lookup of
// local@domain tries "local@domain", then "@domain", then "local", as
// fastforward does.
//
// Recipients are separated by commas. Within a recipient, "(comments)" are
// dropped, "Name <address>" means the address, and a recipient that is one
// "quoted string" is its contents (with \ quoting the next byte), so that
// a program or a path may hold commas and spaces. Empty recipients (a
// trailing comma) are skipped. A recipient is:
//
//	|command        a program: /bin/sh -c command, run as the alias
//	                account in its home, as a .qmail "|" line (qmail's
//	                environment, exit codes 0, 99, 100 and the rest)
//	/path           a file: the message is appended to it in mbox format,
//	                as the alias account, as a .qmail "/" line. It must
//	                not end in "/" (sendmail appends to files only)
//	:include:/path  the recipients listed in that file, read when the
//	                table is imported (below)
//	\local          the address local, marked as not to be expanded
//	                further (sendmail's meaning); it is never followed by
//	                the loop check
//	address         anything else: an address, at most 800 bytes, with no
//	                white space or control characters
//
// An address without "@" is qualified at delivery with the domain of the
// address being delivered, which is a local one; so "staff: joe, ann"
// forwards staff@example.org to joe@example.org and ann@example.org.
//
// # :include: files
//
// An include file is read at import, as root, and its recipients are
// stored in the table with the file's path, size, modification time and
// SHA-256, so that Table.Check can say when it changed (the table then
// still holds what the file held at import: run the import again). Its
// lines are comments ("#"), empty, or recipients separated by commas as
// above; it may not hold another :include:. The path must be absolute,
// with no "." or ".." component; it is opened following no symbolic or
// magic link anywhere on it (ReadIncludeFile), and the file must be a
// regular file (a FIFO or device is refused without blocking or being
// opened), not on procfs or sysfs, of at most 16 MiB. It must be readable
// by everyone, through directories everyone may search (as fastforward
// asks: so root copies into the table nothing an ordinary user could not
// read), and writable by no one but its owner. A file holding programs or
// files must belong to root, and so must every directory on its path,
// none writable by group or others: its lines run as the alias account,
// and a user who could change them could run anything as that account.
// These rules are checked on the descriptors the open walked.
//
// # owner-
//
// An alias "owner-NAME" (at the same domain, if the name has one) is
// NAME's owner: mail expanded through NAME gets the envelope sender
// owner-NAME@domain (files' From_ lines, programs' SENDER and the
// forwards), unless its sender is empty or "#@[]", so that errors go to
// the owner and bounces never loop.
//
// # Checks at import
//
// ParseFile checks the whole file and reports every bad line at once,
// each "<file> line N: <reason>: <text>": a line it cannot read, a name or
// recipient that is bad, an alias with no recipients, an include file that
// cannot be read or is not safe (the reason names it and its own line), a
// duplicate name (at its second line, naming the first: sendmail's
// newaliases warns and fastforward keeps the first; here it is an error),
// an alias whose forwards would not fit in one delivery's answer, and a
// loop: an alias that reaches itself through aliases of the file, reported
// at the line of its first alias with the chain, "alias loop: a -> b -> a".
// An alias reaches another when it names it: a bare recipient "b" names
// the alias "b", a qualified "b@host" the alias "b@host".
//
// Aliases are not expanded into each other at import: an alias naming
// another is a forward, and the next delivery looks the address up again.
// Users come before aliases at every step, as at the first, and every
// step adds its Delivered-To line, so a loop the import could not see
// (through a domain's qualified name) ends as qmail's looping bounce.
package aliases
