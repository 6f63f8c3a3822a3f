// Package localdeliver delivers mail to local users with qmail's privilege
// structure, in three processes:
//
//   - the daemon (unprivileged) holds a Client and asks for one delivery
//     at a time per call: an address, a sender and a message, nothing
//     else;
//   - the helper (Helper, the only part of gqmail that keeps root)
//     resolves the address itself, as qmail-lspawn does (Resolver: the
//     users/assign table, then the password file, then the alias user,
//     whose specific .qmail files come before the aliases table, which
//     comes before its .qmail-default; uid 0 refused, the home must exist
//     and belong to the user), and
//     hands the delivery to a child running as that user. It also
//     answers the daemon's two questions that need root: whether a local
//     address exists (Client.CheckRecipient) and whether a login and
//     password are right (Client.CheckPassword, by the checkpassword
//     program of the helper's own start arguments);
//   - a delivery child (RunChild) runs with one user's uid and gid, never
//     root, and does what qmail-local does: the home checks, the
//     Delivered-To loop check, the .qmail file (dotqmail) and its lines in
//     order: mbox and maildir deliveries (mailbox), programs, forwards,
//     and "|dot-forward" lines, whose .forward it reads itself
//     (dotforward).
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
//	daemon → helper   "deliver/1"    token recipient sender message  [descriptor]
//	helper → daemon   "result/1"     token letter text newsender forward...
//	daemon → helper   "rcpt/1"       token recipient
//	helper → daemon   "rcptinfo/1"   token status account text
//	daemon → helper   "auth/1"       token login password remoteip
//	helper → daemon   "authresult/1" token status text
//	helper → child    "job/1"        user home local dash ext domain sender defaultdelivery message [lines owner]  [descriptor]
//	child → helper    "result/1"     ""    letter text newsender forward...
//	either way        "version"      the-tags-this-side-speaks...
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
//   - lines, owner: only for an address of the aliases table (alias.go):
//     the alias's targets as .qmail lines, run in place of a .qmail file,
//     and the owner-NAME address that becomes the envelope sender;
//   - letter, text: the result, internal/outcome's K, Z or D and the report;
//   - newsender, forward...: the envelope sender and the addresses of the
//     copies the delivery forwards, for the engine to queue;
//   - status: Y (the address exists; the password is right), N (it does
//     not; it is wrong) or Z (temporary failure, text says why);
//   - account: the account a recipient that exists resolves to, empty
//     otherwise;
//   - login, password, remoteip: SMTP AUTH's credentials, at most 256
//     bytes each and without NUL (the login not empty), and the client's
//     IP address in canonical form. The password is never logged, and is
//     zeroed after use where the process owns its bytes.
//
// Each request has its own answer tag, and the daemon takes an answer
// only with the tag and token of a request it is waiting for, so a
// recipient check or a password check can never be answered with a
// delivery's result, nor the other way round. rcpt/1 and auth/1 are tiny:
// a recipient over 1024 bytes, a field out of its bounds, a descriptor
// with them or a field too many is a malformed frame.
//
// # Recipient checks
//
// rcpt/1 is decided as a delivery would be, without delivering: the
// Resolver, the delivery child's home checks (a temporary failure there is
// Z), and then, for an address with an extension, dotqmail.Find's lookup
// order (.qmail-ext, then each -default down to .qmail-default) in the
// home of the account, which for an address no user owns is the alias
// account's. An address without extension exists (an absent .qmail is the
// default delivery); one that the Resolver fails permanently does not.
// The helper is root, so it answers by lstat alone: it opens nothing in a
// home and follows no link there; a .qmail name that is a link, or an
// empty, unreadable or writable file, exists, and the delivery decides
// the rest.
//
// # Password checks
//
// auth/1 runs the helper's checkpassword command, with true appended, as
// root (as qmail-popup runs it): descriptor 3 a pipe holding
// login NUL password NUL NUL, stdin and stdout /dev/null, stderr logged
// unless it holds the password, the environment PATH=/usr/bin:/bin and
// TCPREMOTEIP only, a process group of its own killed whole after
// CheckpasswordTimeout. Exit 0 is Y, 1 is N, anything else Z. At most 8
// run at once, 32 more wait at most 2 seconds, and the rest are Z at once;
// recipient checks have the same scheme with 16, 256 and 2 seconds.
//
// A side that gets a tag it does not know answers "version" with the tags
// it speaks and hangs up, and the helper makes the delivery a deferral
// that names both. The helper starts every child from the binary it was
// itself started from (it holds it open), so even after an in-place
// upgrade a helper and its children speak the same version; only a
// restart brings the new one.
package localdeliver
