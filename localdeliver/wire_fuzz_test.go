package localdeliver

import (
	"bytes"
	"testing"
)

// FuzzCheckRequests feeds the helper's rcpt/1 and auth/1 decoders what a
// hostile daemon could send: they never panic, what they accept is within
// the bounds, and an auth/1 error says nothing of the password beyond its
// length: another password of that length, with its NULs in the same
// places, gives the same error text.
func FuzzCheckRequests(f *testing.F) {
	tok := make([]byte, tokenLen)
	f.Add([]byte(tagAuth), tok, []byte("alice"), []byte("s3cret"), []byte("192.0.2.1"))
	f.Add([]byte(tagAuth), tok, []byte("al\x00ice"), []byte("s3cret-password"), []byte("::1"))
	f.Add([]byte(tagRcpt), tok, []byte("joe-ext@example.org"), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, tag, tok, a, b, c []byte) {
		for _, fields := range [][][]byte{{tag, tok, a}, {tag, tok, a, b, c}} {
			if _, r, err := decodeRcpt(fields); err == nil && (r == "" || len(r) > maxRecipientLen) {
				t.Fatalf("rcpt/1 took a recipient of %d bytes", len(r))
			}
			_, req, err := decodeAuth(fields)
			if err != nil {
				if len(fields) == 5 {
					other := bytes.Map(func(r rune) rune {
						switch r {
						case 0:
							return 0
						case '*':
							return '#'
						}
						return '*'
					}, b)
					if len(other) == len(b) {
						_, _, err2 := decodeAuth([][]byte{tag, tok, a, other, c})
						if err2 == nil || err2.Error() != err.Error() {
							t.Fatalf("auth/1's error depends on the password: %v, and with another %v", err, err2)
						}
					}
				}
				continue
			}
			if len(req.Login) == 0 || len(req.Login) > maxLoginLen || len(req.Password) > maxPasswordLen ||
				bytes.IndexByte(req.Login, 0) >= 0 || bytes.IndexByte(req.Password, 0) >= 0 || checkRemoteIP(req.RemoteIP) != nil {
				t.Fatalf("auth/1 took a request out of bounds: %d, %d bytes, %q", len(req.Login), len(req.Password), req.RemoteIP)
			}
		}
	})
}
