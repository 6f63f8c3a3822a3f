package smtp

import (
	"crypto/tls"
	"time"
)

// handshakeTimeout bounds a TLS handshake, whatever the idle timeout: a
// client that opens TLS and stops holds a session no longer than this.
const handshakeTimeout = 30 * time.Second

// tlsOffered reports whether STARTTLS may be offered now.
func (s *Server) tlsOffered() bool {
	if s.TLS == nil {
		return false
	}
	return s.TLSReady == nil || s.TLSReady()
}

// startTLS runs the server side of a TLS handshake over the connection
// and, when it succeeds, makes the session read and write through it.
// Nothing read before it is kept: the caller has checked that the client
// sent nothing after STARTTLS (RFC 3207, and the plaintext command
// injection of CVE-2011-0411).
func (c *conn) startTLS() error {
	tc := tls.Server(c.nc, c.srv.TLS)
	d := time.Now().Add(min(handshakeTimeout, c.idle()))
	if c.end.Before(d) {
		d = c.end
	}
	tc.SetDeadline(d)
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.nc, c.tls = tc, &st
	c.r.Reset(connReader{c})
	c.w.Reset(tc)
	return nil
}

// tlsSummary is the version and cipher of the session's TLS layer, as the
// Received line and the log show them, in OpenSSL's words as Postfix
// writes them: "TLSv1.3 TLS_AES_128_GCM_SHA256".
func (c *conn) tlsSummary() string {
	if c.tls == nil {
		return ""
	}
	v := "TLSv1.2"
	if c.tls.Version == tls.VersionTLS13 {
		v = "TLSv1.3"
	}
	return v + " " + tls.CipherSuiteName(c.tls.CipherSuite)
}
