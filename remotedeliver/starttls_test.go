package remotedeliver

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
)

func TestSTARTTLS(t *testing.T) {
	dns := startDNS(t, `
tls.example. MX 10 mx.tls.example.
mx.tls.example. A 127.0.0.2
`)
	cert, pool := selfSigned(t, "mx.tls.example", "127.0.0.2")
	otherCert, otherPool := selfSigned(t, "mx.other.example")
	const helo = "helo.sender.test"

	cases := []struct {
		name     string
		policy   TLSPolicy
		other    bool // the peer's certificate names another host
		wantTLS  bool
		fallback bool // the message comes on a second, plain connection
		fail     bool // a temporary failure, nothing delivered
	}{
		{name: "mode may starts TLS and takes any certificate", policy: TLSPolicy{Mode: "may"}, wantTLS: true},
		{name: "mode verify starts TLS with a trusted certificate for the MX name",
			policy: TLSPolicy{Mode: "verify", RootCAs: pool}, wantTLS: true},
		{name: "mode verify with an untrusted certificate falls back to plain on a new connection",
			policy: TLSPolicy{Mode: "verify", PlainFallback: true}, fallback: true},
		{name: "mode verify with an untrusted certificate and no fallback is temporary",
			policy: TLSPolicy{Mode: "verify"}, fail: true},
		{name: "mode verify refuses a trusted certificate for another name",
			policy: TLSPolicy{Mode: "verify", RootCAs: otherPool}, other: true, fail: true},
		{name: "mode never does not start TLS", policy: TLSPolicy{Mode: "never"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, ls := listenSame(t, "127.0.0.2")
			peerCert := cert
			if c.other {
				peerCert = otherCert
			}
			p := startPeer(t, ls[0], offeringTLS(peerCert))
			d := newDeliverer(t, dns, port, map[string]string{"helohost": helo})
			d.TLS = c.policy

			report, oe := deliver(t, d, "sender@sender.test", "joe@tls.example", []byte(body))
			transcript := p.transcript()
			// The client's command, not the capability in the EHLO reply.
			sentSTARTTLS := strings.Contains(transcript, "\nSTARTTLS\r\n")
			if sentSTARTTLS != (c.policy.Mode != "never") {
				t.Errorf("STARTTLS sent: %v, want %v; transcript:\n%s", sentSTARTTLS, !sentSTARTTLS, transcript)
			}
			if c.fail {
				wantFailure(t, report, oe, failure{contains: []string{"Connected to 127.0.0.2 but STARTTLS failed", "(#4.7.5)"}})
				if n := len(p.messages()); n != 0 {
					t.Errorf("peer received %d messages, want none", n)
				}
				return
			}
			wantAccepted(t, report, oe, "127.0.0.2")
			msgs := p.messages()
			if len(msgs) != 1 {
				t.Fatalf("peer received %d messages, want 1", len(msgs))
			}
			if msgs[0].tls != c.wantTLS || msgs[0].helo != helo {
				t.Errorf("message came with TLS %v after EHLO %s; want TLS %v after EHLO %s", msgs[0].tls, msgs[0].helo, c.wantTLS, helo)
			}
			wantConns := 1
			if c.fallback {
				wantConns = 2
			}
			if n := p.connections(); n != wantConns {
				t.Errorf("peer was connected to %d times, want %d", n, wantConns)
			}
			if c.wantTLS {
				// Both EHLOs, before and after STARTTLS, name the helohost.
				want := []hello{{helo, false}, {helo, true}}
				if got := p.sessions(); !slices.Equal(got, want) {
					t.Errorf("sessions = %+v, want %+v", got, want)
				}
			}
		})
	}
}

// The test certificates must not verify without the test's pool, or the
// "untrusted" cases prove nothing.
func TestTestCertificateIsNotTrustedBySystem(t *testing.T) {
	cert, _ := selfSigned(t, "mx.tls.example")
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "mx.tls.example"}); err == nil {
		t.Fatal("a freshly made self-signed certificate verifies against the system's roots")
	}
}
