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
//
// # Wire
//
// The daemon, the helper and the delivery children talk in frames
// (internal/frame) over Unix socket pairs. Every frame starts with its
// tag, which names it and its version:
//
//	daemon → helper   "deliver/1" token recipient sender message  [descriptor]
//	helper → daemon   "result/1"  token letter text newsender forward...
//	helper → child    "job/1"     user home local dash ext domain sender defaultdelivery message  [descriptor]
//	child → helper    "result/1"  ""    letter text newsender forward...
//	either way        "version"   the-tag-this-side-speaks
//
// The fields:
//
//   - token: 16 random bytes the daemon chose for the request; the helper
//     echoes it, and the daemon takes an answer only for a token it is
//     waiting for;
//   - recipient, sender: the envelope of the delivery (the recipient after
//     virtualdomains);
//   - message: the message, LF line ends; with a descriptor, the message
//     is this field followed by the descriptor's contents (a queued body
//     too large to send inline);
//   - user, home, local, dash, ext, domain: the identity the helper
//     resolved (Identity);
//   - defaultdelivery: what an absent or empty .qmail means, from the
//     helper's own start arguments;
//   - letter, text: the result, internal/outcome's K, Z or D and the report;
//   - newsender, forward...: the envelope sender and the addresses of the
//     copies the delivery forwards, for the engine to queue.
//
// A side that gets a tag it does not know answers "version" with the tag
// it speaks and hangs up, and the helper makes the delivery a deferral
// that names both. The helper starts every child from the binary it was
// itself started from (it holds it open), so even after an in-place
// upgrade a helper and its children speak the same version; only a
// restart brings the new one.
package localdeliver
