// Package remotedeliver delivers one message to one remote recipient, as
// qmail-remote does: it finds the hosts (control/smtproutes, then MX
// records by preference, then the domain's own addresses), speaks SMTP to
// them in turn with go-smtp's client, and reports what happened in
// qmail-remote's words ("127.0.0.2 accepted message.\nRemote host said:
// 250 ok").
//
// # Failure contract
//
// Deliver returns the report of a success, or an *outcome.Error:
//
//   - permanent when the domain does not exist, has no host to deliver to,
//     names this host as its best mail exchanger, or when a host answers
//     the sender, the recipient, the DATA command or the message with a
//     5xx reply;
//   - temporary when DNS fails for now, or when no host could be reached
//     or every host answered 4xx (the report is the last host's);
//   - temporary, and no other host is tried, when the connection died after
//     the message's final dot was sent: the host may have the message
//     ("Possible duplicate!").
//
// A host that cannot be reached, answers its greeting or EHLO wrongly, or
// answers 4xx is left for the next one. STARTTLS is used when a host offers
// it (TLSPolicy); 8BITMIME is declared when offered. The message goes out
// with CRLF line ends and dot-stuffed whatever its stored form.
package remotedeliver
