// Package tests holds the end-to-end tests: they build the real binaries,
// start qmaild on a scratch root and talk to it with real peers (Python's
// smtplib, swaks, mblaze), the way an administrator would. They need the
// Debian packages that scripts/install-test-deps installs; a test whose
// peer is missing says so and skips.
//
// Run as root (as in CI), the daemon runs as an ordinary account made for
// the tests (gqmailtest), in the same unprivileged mode as the README's
// quick start; run as an ordinary user, it runs as that user.
package tests
