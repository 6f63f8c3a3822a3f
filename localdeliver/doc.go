// Package localdeliver delivers mail to local users with qmail's privilege
// structure, in three processes:
//
//   - the daemon (unprivileged) holds a Client and asks for one delivery
//     at a time per call: an address, a sender and a message, nothing
//     else;
//   - the helper (Helper, the only part of gqmail that keeps root)
//     resolves the address itself, as qmail-lspawn does (Resolver: the
//     users/assign table, then the password file, then the alias user;
//     uid 0 refused, the home must exist and belong to the user), and
//     hands the delivery to a child running as that user;
//   - a delivery child (RunChild) runs with one user's uid and gid, never
//     root, and does what qmail-local does: the home checks, the
//     Delivered-To loop check, the .qmail file (dotqmail) and its lines in
//     order: mbox and maildir deliveries (mailbox), programs, forwards.
//
// # Guarantees
//
// The daemon cannot choose whom mail is delivered as: the helper takes the
// default delivery from its own start arguments and every identity from
// its own lookups. A child serves only its own uid, and may serve many
// deliveries for it (a process per delivery costs more CPU than the
// delivery). A delivery is reported a success only after every file it
// wrote is fsync'd; forwards are returned, not sent, so that the engine
// queues them in the transaction that records the delivery.
//
// Results are internal/outcome's: a report and an error, delivered,
// deferred (retried) or failed (bounced), with qmail's report texts; on
// the wire they are qmail-lspawn's K, Z and D.
package localdeliver
