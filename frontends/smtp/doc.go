// Package smtp is the SMTP frontend: qmail-smtpd's behaviour on go-smtp,
// served from listeners (Server.Serve) or on one connection given as stdin
// and stdout by tcpserver or inetd (Server.ServeConn with a StdioConn).
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
// at RCPT. The data is refused with 451 if it holds a bare LF or bare CR (and
// the connection is then closed), with 552 if it is larger than
// control/databytes (or qmail.toml's hard ceiling), with 554 if its header has
// 100 or more Received or Delivered lines. A message is answered "250 ok"
// only after the queue's accept transaction is on disk; a queue failure is a
// 451, never a 5xx, so the client tries again.
//
// Control files are read when a connection starts, so a change applies to
// the next connection. Refusals use qmail-smtpd's reply texts; replies to
// accepted commands are go-smtp's own, except the greeting
// ("220 <smtpgreeting> ESMTP") and the answer to the data ("250 ok <time>
// qp <message id>").
package smtp
