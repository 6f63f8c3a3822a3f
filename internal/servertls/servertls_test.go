package servertls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeCert writes a new self-signed certificate and key into one file
// and returns the certificate's serial number.
func writeCert(t *testing.T, path string) string {
	t.Helper()
	c, k, err := SelfSigned("mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return serialOf(t, c)
}

func serialOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		t.Fatal("no PEM block in the certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// served returns the serial number of the certificate a client sees.
func served(t *testing.T, cfg *tls.Config, maxVersion uint16) (string, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var wg sync.WaitGroup
	wg.Go(func() { tls.Server(a, cfg).Handshake(); a.Close() })
	c := tls.Client(b, &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion})
	err := c.Handshake()
	b.Close()
	wg.Wait()
	if err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

type warnings struct {
	mu sync.Mutex
	l  []string
}

func (w *warnings) add(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.l = append(w.l, fmt.Sprintf(format, args...))
}

func (w *warnings) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.l)
}

func TestRenewedCertificateIsServedWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "servercert.pem")
	first := writeCert(t, path)
	now := time.Now()
	var w warnings
	l := &Loader{CertFile: path, Warn: w.add, Now: func() time.Time { return now }}
	if err := l.Load(); err != nil {
		t.Fatal(err)
	}
	cfg := l.Config()
	if got, err := served(t, cfg, 0); err != nil || got != first {
		t.Fatalf("served %q, %v; want %q", got, err, first)
	}

	second := writeCert(t, path)
	now = now.Add(2 * time.Second)
	if got, err := served(t, cfg, 0); err != nil || got != second {
		t.Fatalf("after renewal served %q, %v; want the new %q", got, err, second)
	}

	// A broken file is reported once and the last good certificate stays.
	if err := os.WriteFile(path, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		now = now.Add(2 * time.Second)
		if got, err := served(t, cfg, 0); err != nil || got != second {
			t.Fatalf("with a broken file served %q, %v; want the last good %q", got, err, second)
		}
	}
	if n := w.count(); n != 1 {
		t.Errorf("%d warnings for one broken file, want 1: %q", n, w.l)
	}
	if !strings.Contains(w.l[0], path) || !strings.Contains(w.l[0], "serving the certificate loaded before") {
		t.Errorf("warning %q does not name the file and what is served", w.l[0])
	}
}

func TestOnlyTLS12AndLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cert.pem")
	writeCert(t, path)
	l := &Loader{CertFile: path}
	if err := l.Load(); err != nil {
		t.Fatal(err)
	}
	if _, err := served(t, l.Config(), tls.VersionTLS11); err == nil {
		t.Fatal("a TLS 1.1 client completed a handshake")
	}
	if _, err := served(t, l.Config(), tls.VersionTLS12); err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
}

func TestMissingCertificate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "servercert.pem")
	var w warnings
	now := time.Now()
	l := &Loader{CertFile: path, KeyFile: filepath.Join(dir, "key.pem"), Warn: w.add, Now: func() time.Time { return now }}
	err := l.Load()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load of a missing file: %v, want an error naming %s", err, path)
	}
	if l.Ready() {
		t.Fatal("Ready with no certificate")
	}
	// Written later, it is picked up without a restart.
	c, k, err := SelfSigned("mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, c, 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), k, 0o600)
	now = now.Add(2 * time.Second)
	if !l.Ready() {
		t.Fatal("not Ready once the files exist")
	}
}
