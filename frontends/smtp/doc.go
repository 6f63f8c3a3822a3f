// Package smtp is the SMTP frontend: qmail-smtpd's behaviour, served from
// listeners (Server.Serve) or on one connection given as stdin and stdout
// by tcpserver or inetd (Server.ServeConn with a StdioConn). The protocol
// loop is this package's own: go-smtp's server loses the information
// needed to refuse a bare CR after a leading dot, and its session ends
// could not be bounded from outside it.
//
// # What it accepts
//
// A recipient is accepted when the client may relay, or when its domain is
// one this host receives mail for:
//
//   - clients may relay when their address is in qmail.toml's
//     [smtp] relay_from (loopback by default), or, for a connection served on
//     stdin and stdout, when RELAYCLIENT is set; RELAYCLIENT's value is then
//     appended to every recipient, as qmail-smtpd does;
//   - otherwise the domain must match control/rcpthosts or
//     control/morercpthosts (whole domain, or a ".suffix" line). Unlike
//     qmail, a missing rcpthosts does not make an open relay: then only the
//     domains in control/locals and control/virtualdomains are accepted.
//
// A sender in control/badmailfrom (the address, or "@domain") is refused
// at RCPT. A recipient given twice (the domain in any case, and the local
// part too for a local address) is queued once; more than
// smtp.max_recipients get 452. The data is refused with 451 if it holds a
// bare LF or bare CR (and the connection is then closed at once), with 552
// if it is larger than control/databytes (or qmail.toml's hard ceiling,
// also offered as SIZE and checked at MAIL), with 554 if its header has
// 100 or more Received or Delivered lines. A message is answered
// "250 ok" only after the queue's accept transaction is on disk; a queue
// failure is a 451, never a 5xx, so the client tries again.
//
// # What a client can make it hold
//
// Message data goes to the queue (Queue, Draft) as it arrives; a session
// holds a few buffers of a few KiB, a command line of at most 2048 bytes
// and at most max_recipients addresses. Sessions are bounded in number (in
// all, and per client address except for relay_from clients) and in time
// (the idle timeout per command line, shorter under stress, and
// max_session_time for the whole session); see conn and gate.
//
// # Beyond qmail-smtpd
//
//   - STARTTLS (tls.go) when Server.TLS is set and a certificate is
//     loaded; listeners with ImplicitTLS start TLS before the greeting.
//     Commands pipelined behind STARTTLS end the session.
//   - Submission listeners (Role.Submission) offer AUTH PLAIN and LOGIN
//     once the session is encrypted (auth.go), need it before MAIL, and
//     let the authenticated client relay and use only its own addresses
//     as sender and in From: (senders.go). Failed logins are delayed and
//     counted per client address (failures.go).
//   - Recipients at local domains are checked at RCPT (verify.go) through
//     a RecipientChecker, the root helper in the daemon.
//   - A Filter (filter.go) judges each message before it is accepted.
//   - Each session logs its start, its refusals and its end.
//
// Control files are read when a connection starts, so a change applies to
// the next connection. Replies are qmail-smtpd's texts; EHLO also offers
// SIZE, and an empty recipient is refused.
package smtp
