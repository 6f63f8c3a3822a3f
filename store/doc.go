// Package store is the only code that knows bbolt. It owns two files:
//
//   - the queue database (queue/queue.db): every accepted message, its
//     envelope and body, the delivery state of each of its recipients, and an
//     index of pending recipients ordered by their next attempt time;
//   - the assignment table (users/assign.db): the qmail-users table that maps
//     local addresses to a user, uid, gid and home (see AssignTable).
//
// # Guarantees
//
// Accept returns only after the transaction holding the message and all its
// recipients is on disk (bbolt fsyncs every commit). A crash before that
// leaves no trace of the message; a crash after it loses nothing.
//
// Concurrent callers of Accept and Record share commits (group commit): a
// single goroutine runs every write transaction, and all requests that arrive
// while one commit is being fsync'd go into the next one. Unlike bbolt's
// DB.Batch there is no timer: an idle database commits a lone request at
// once, a busy one amortises each fsync over everything that queued up
// behind it.
//
// Every recipient is in exactly one state: pending, delivered or failed.
// Pending recipients that are not held, and only those, are in the due
// index under their next attempt time. A held recipient (Hold, Release:
// qmailctl queue hold) is pending but out of the index, so the engine
// never picks it and, since expiry is decided when an attempt ends, it
// never expires while held. Record moves a recipient out of pending in the same
// transaction that queues whatever the delivery produced (forwards), and the
// transaction that finishes the last recipient of a message also deletes the
// message and its body and queues its bounce, if any. So the database never
// points at a body it does not hold, and a crash can neither lose nor
// duplicate a forward or a bounce.
//
// # Layout
//
// Buckets of the queue database (keys are big-endian so that byte order is
// numeric order):
//
//	meta    "schema" → uint32 schema version
//	msgs    msgID(8) → message record (sender, origin, time, size, counts)
//	rcpts   msgID(8) index(4) → recipient record (address, state, attempts, next, last text, held)
//	due     channel(1) next(8) msgID(8) index(4) → empty; pending recipients not held only
//	bodies  msgID(8) chunk(4) → up to 256 KiB of the message
//	imports import key → msgID(8); made on first use by an importer (qmailctl
//	        migrate queue): Accept records a message's key in its own
//	        transaction and takes a key it has seen as the earlier message,
//	        so an import run twice queues nothing twice. Keys outlive their
//	        messages.
//
// A body of up to InlineMax (128 KiB) lives in the database, in chunks,
// rather than in a file of its own: on the accept-and-deliver workload the
// file-per-body layout pays a file create, a file fsync and a directory
// fsync per message, which group commit cannot share (BenchmarkAcceptDeliver
// compares both). A larger body is a file in queue/bodies/, named in its
// message record: bbolt holds a transaction's dirty pages in memory until
// commit and never gives file space back, so a burst of large messages
// kept in the database would cost their size in memory and leave
// queue.db that large for good. For such a body the costs of a file are
// small beside its size.
//
// # Body files
//
// A Spool receives a message as it arrives and moves to a new file in
// queue/bodies/ when it outgrows InlineMax or the in-memory budget shared
// by all spools. Before the accept transaction names the file, the file
// and its directory are fsync'd. The file is removed after the transaction
// that ends its message is on disk; a crash in between, or a client that
// went away, leaves a file no message names, which RemoveOrphanBodies
// removes when the daemon starts. A body file is only ever read through
// pread, so the descriptors handed to delivery share no offset that
// matters.
//
// # Administration
//
// Entries, Entry, MakeDue, Hold, Release, Remove and FailNow serve
// qmailctl queue (frontends/admin): each is one short transaction over a
// page its caller chose, never a scan of the whole queue in one
// transaction. FailNow finishes a message as Record does, its bounce
// queued in the same transaction. OpenReadOnly reads a queue that no
// daemon holds, and writes nothing.
//
// A database whose schema version is newer than this code, or that has no
// recognisable schema, is refused with an error, never rewritten. An older
// one is read as it is and marked with SchemaVersion when opened for
// writing (see SchemaVersion for what each version added).
package store
