// Package mailbox writes one message into an mbox file or a maildir, as
// qmail-local's mailfile and maildir_child do, and reports the result as an
// *outcome.Error carrying qmail's text.
//
// # Where it runs
//
// Inside the per-user delivery child: the process already has the user's uid
// and gid and its working directory is the user's home, so relative paths
// (the "./Mailbox" and "./Maildir/" of a .qmail file) are relative to the
// home. The package never changes the working directory, so several
// deliveries may run at once in one process.
//
// # Guarantees
//
//   - A message is reported delivered only after its bytes are on disk: an
//     mbox is fsync'd before it is closed; a maildir file is fsync'd and
//     closed, linked from tmp/ into new/ under the same name, and then new/
//     itself is fsync'd so that the link survives a crash.
//   - On any failure nothing is left behind: an mbox is truncated back to
//     the length it had before the delivery (only when the lock was
//     obtained, as qmail does: without the lock another writer may have
//     appended after us), and a maildir tmp/ file is removed (as is the new/
//     link when the final fsync of new/ fails).
//   - The final component of the mbox path or maildir path is never followed
//     as a symbolic link unless the link is owned by the current euid or by
//     root and its target is owned by the current euid (os.Geteuid). For an
//     mbox the target's owner is checked on the opened descriptor, so the
//     check cannot be raced; for a maildir it is made with stat just before
//     use, and swapping the link in between needs write access to the
//     directory that holds it. Refusal is a temporary failure with #4.7.0,
//     like qmail's other "Uh-oh" safety checks.
//   - Maildir file names are unique within a host even when one process
//     delivers many messages per second from several goroutines: they take
//     the modern form <sec>.M<usec>P<pid>Q<count>.<host>, where count comes
//     from the Maildir value the caller owns.
//
// # Failures
//
// Every failure is temporary (qmail-local exits 111 for all of them), and its
// Text is qmail's:
//
//	Unable to open <path>: <error>. (#4.2.1)
//	File has been locked for 30 seconds straight. (#4.3.0)
//	Unable to write <path>: <error>. (#4.3.0)
//	Unable to chdir to maildir. (#4.2.1)
//	Temporary error on maildir delivery. (#4.3.0)
//
// plus, for the symbolic link checks, which qmail does not make, and for a
// context that ends while Append waits for the lock (where qmail has only
// its alarms):
//
//	Unable to lock <path>: <context error>. (#4.3.0)
//	Unable to open <path>: it is a symbolic link owned by someone else. (#4.7.0)
//	Unable to open <path>: it is a symbolic link to a file owned by someone else. (#4.7.0)
//	Unable to open <path>: it is a symbolic link to a directory owned by someone else. (#4.7.0)
//
// <error> is the system error's text as Go prints it ("permission denied",
// "no space left on device"), where qmail's error_str has its own words for
// some ("access denied" for EACCES, "out of disk space" for ENOSPC). The
// underlying error is kept in Err.
//
// # What it does not do
//
// It does not create maildirs (a missing maildir or tmp/ is a temporary
// failure, as in qmail), does not read .qmail files, and does not check for
// Delivered-To loops.
package mailbox
