// Package admin is the daemon's administration socket, the channel
// through which qmailctl queue reads and changes the queue while the
// daemon runs (the daemon alone holds queue.db), and the client side of
// it, which reads the database itself while the daemon is stopped.
//
// # Who may connect
//
// The socket is ROOT/submit/admin.sock, mode 0600 and owned by the
// daemon's account, in submit/ (the daemon's, mode 0755): only root and
// that account can connect. The daemon checks the peer's credentials
// (SO_PEERCRED) as well and greets anyone else with a refusal before it
// reads a byte. At most MaxConns clients are served at once.
//
// # Protocol
//
// Frames of internal/frame, each starting with a tag. The server greets
// with "admin/1 LETTER TEXT" (K: go ahead; Z or D: refused, and closed).
// Then the client sends requests, one at a time, and reads the answer:
//
//	list/1 FILTER          → (msg ENVELOPE (rcpts [RECIPIENT...])*)* end
//	stat/1 FILTER          → stat STAT
//	show/1 ID BODY         → msg ENVELOPE (rcpts [...])* (data BYTES)* end
//	change/1 VERB DRY FILTER → changed COUNTS
//
// FILTER, ENVELOPE, RECIPIENT, STAT and COUNTS are JSON (the types
// Filter, Message, Recipient, Stat and Counts); any answer may instead be
// "error TEXT", after which the connection serves the next request.
// BODY is "1" for the whole message, "0" for its header only; DRY is "1"
// for a dry run. VERB is retry, hold, release, delete or bounce.
//
// # Bounds
//
// A request frame is at most MaxRequest bytes and must arrive within
// IdleTimeout; every answer frame is written within WriteTimeout, so a
// client that stops reading holds nothing but its own goroutine. The
// queue is read in pages of PageMessages messages, each in its own short
// read transaction that is over before anything is written to the
// client, and changed in pages of the same size, each one write
// transaction: a listing of any size neither stalls the writer nor
// blocks an accept for longer than one page. A listing stops at the
// highest message number given out when it started, so it ends while
// mail keeps arriving.
package admin
