package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The bounds a client is held to when qmail.toml says nothing. Each is a
// promise made in the package doc, the qmail.toml template and SECURITY.md;
// changing one must be a decision, not an accident, so each is pinned
// here with the reason config.go gives for it.
func TestPerClientBoundDefaults(t *testing.T) {
	cases := []struct {
		key    string // as in qmail.toml
		got    func(Config) any
		want   any
		toml   string // the value as the package doc writes it
		reason string
	}{
		{"smtp.max_message_bytes", func(c Config) any { return c.SMTP.MaxMessageBytes }, int64(40 << 20), "41943040",
			"a 25 MB attachment is 34 MB in base64; 40 MiB takes it with room for the rest, and bounds disk (messages are streamed)"},
		{"smtp.max_connections", func(c Config) any { return c.SMTP.MaxConnections }, 200, "200",
			"SMTP sessions at once, as tcpserver -c bounds qmail-smtpd; one more is answered 421"},
		{"smtp.max_connections_per_ip", func(c Config) any { return c.SMTP.MaxConnectionsPerIP }, 20, "20",
			"sessions from one client address, as Postfix's smtpd_client_connection_count_limit"},
		{"smtp.max_recipients", func(c Config) any { return c.SMTP.MaxRecipients }, 1000, "1000",
			"recipients of one message; more get 452"},
		{"smtp.max_session_time", func(c Config) any { return c.SMTP.MaxSessionTime }, 30 * time.Minute, `"30m"`,
			"a client that trickles a byte at a time is cut off after it, however busy it keeps"},
		{"smtp.stress_timeout", func(c Config) any { return c.SMTP.StressTimeout }, 10 * time.Second, `"10s"`,
			"the idle timeout while 80% of max_connections are in use, as Postfix shortens its timeouts under stress"},
		{"smtp.filter_timeout", func(c Config) any { return c.SMTP.FilterTimeout }, 2 * time.Minute, `"2m"`,
			"a queue_filter running longer is a 451, so a message cannot hold its session for ever"},
		{"auth.max_failures", func(c Config) any { return c.Auth.MaxFailures }, 10, "10",
			"failed logins per client address in failure_window before AUTH is refused"},
		{"auth.failure_window", func(c Config) any { return c.Auth.FailureWindow }, 15 * time.Minute, `"15m"`,
			"the window in which max_failures failed logins are counted"},
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, asRoot := range []bool{true, false} {
		def := Defaults(asRoot)
		// What a file that leaves the key out gives, and what the
		// template written from the defaults loads back as.
		empty, err := Load(write(t, ""), def)
		if err != nil {
			t.Fatal(err)
		}
		fromTemplate, err := Load(write(t, Template(def)), def)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			for where, c := range map[string]Config{"Defaults": def, "an empty qmail.toml": *empty, "the template": *fromTemplate} {
				if got := tc.got(c); got != tc.want {
					t.Errorf("%s in %s (asRoot=%v) = %v, want %v: %s", tc.key, where, asRoot, got, tc.want, tc.reason)
				}
			}
		}
	}
	// The package doc shows each default; it must say what the code does.
	for _, tc := range cases {
		_, name, _ := strings.Cut(tc.key, ".")
		re := regexp.MustCompile(`(?m)^//\t` + regexp.QuoteMeta(name) + ` = ` + regexp.QuoteMeta(tc.toml) + `(\s|$)`)
		if !re.Match(src) {
			t.Errorf("the package doc does not show %s = %s (%v): %s", tc.key, tc.toml, fmt.Sprint(tc.want), tc.reason)
		}
	}
}
