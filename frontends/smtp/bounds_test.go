package smtp

import (
	"testing"
	"time"
)

// The bounds the SMTP server holds each client to that are constants of
// this package rather than qmail.toml settings (those are pinned in
// internal/config). Changing one must be a decision: each is pinned with
// the reason its comment gives.
func TestSessionBoundConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want any
		reason    string
	}{
		{"maxErrors", maxErrors, 20,
			"refusals between two accepted messages before the session is closed, as Postfix's smtpd_hard_error_limit"},
		{"maxCommandLine", maxCommandLine, 2048,
			"a command line; RFC 5321 asks for 512 bytes and MAIL with its parameters may need more; the rest is dropped, never held"},
		{"handshakeTimeout", handshakeTimeout, 30 * time.Second,
			"a client that opens TLS and stops holds a session no longer than this"},
		{"authFailureDelay", authFailureDelay, 2 * time.Second,
			"a failed login waits this long for its answer, which slows a guesser down"},
		{"maxCredential", maxCredential, 256,
			"a longer login or password is refused without a check"},
		{"maxLoggedRefusals", maxLoggedRefusals, 50,
			"refusal lines one session writes to the log, so that a client sending junk cannot flood it"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v: %s", tc.name, tc.got, tc.want, tc.reason)
		}
	}
}
