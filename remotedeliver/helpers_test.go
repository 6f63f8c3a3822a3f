package remotedeliver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/fixtures"

	"github.com/gqmail/gqmail/fixtures/dnstest"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/outcome"
)

// absent, as the value of a control file, removes it from the defaults.
const absent = "\x00absent"

// defaultControls are the control files every test starts from. The
// timeouts keep a test that goes wrong short.
func defaultControls() map[string]string {
	return map[string]string{
		"me":             "sender.test",
		"helohost":       "helo.sender.test",
		"timeoutconnect": "2",
		"timeoutremote":  "10",
	}
}

// scratch returns an empty directory that is removed after the test,
// unless the test failed: then it is kept and its path printed.

// controls returns a control directory holding the default files changed
// by files.
func controls(t *testing.T, files map[string]string) *control.Dir {
	t.Helper()
	all := defaultControls()
	for name, content := range files {
		if content == absent {
			delete(all, name)
			continue
		}
		all[name] = content
	}
	dir := fixtures.Scratch(t)
	for name, content := range all {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return control.Open(dir, func(err error) { t.Errorf("control file: %v", err) })
}

// startDNS serves zone on loopback until the test ends.
func startDNS(t *testing.T, zone string, servfail ...string) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start(zone, servfail...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newDeliverer returns a Deliverer that asks dns, reaches mail exchangers
// at port, reads files (over the defaults) and takes 127.0.0.1 for its
// only address.
func newDeliverer(t *testing.T, dns *dnstest.Server, port int, files map[string]string) *Deliverer {
	t.Helper()
	return &Deliverer{
		Controls:   controls(t, files),
		Resolver:   &Resolver{Servers: []string{dns.Addr}, Timeout: 2 * time.Second},
		Port:       port,
		TLS:        TLSPolicy{Mode: "may"},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
	}
}

// deliver runs Deliver under a bounded context. An error that is not an
// *outcome.Error fails the test: the package promises one.
func deliver(t *testing.T, d *Deliverer, sender, rcpt string, body []byte) (string, *outcome.Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return result(t, rcpt)(d.Deliver(ctx, sender, rcpt, Bytes(body)))
}

// result checks that err is nil or an *outcome.Error.
func result(t *testing.T, rcpt string) func(string, error) (string, *outcome.Error) {
	return func(report string, err error) (string, *outcome.Error) {
		t.Helper()
		if err == nil {
			return report, nil
		}
		var oe *outcome.Error
		if !errors.As(err, &oe) {
			t.Fatalf("Deliver to %s: error %q is a %T, not an *outcome.Error", rcpt, err, err)
		}
		return report, oe
	}
}

// wantAccepted checks a success reported by ip.
func wantAccepted(t *testing.T, report string, oe *outcome.Error, ip string) {
	t.Helper()
	if oe != nil {
		t.Fatalf("Deliver failed (permanent %v): %q; want %s to accept it", oe.Permanent, oe.Text, ip)
	}
	if want := ip + " accepted message.\nRemote host said: 250 "; !strings.HasPrefix(report, want) {
		t.Fatalf("report = %q, want it to start with %q", report, want)
	}
}

// failure is an expected outcome.
type failure struct {
	permanent bool
	text      string   // the whole text, when not empty
	contains  []string // parts of the text
}

func (f failure) String() string {
	class := "temporary"
	if f.permanent {
		class = "permanent"
	}
	if f.text != "" {
		return fmt.Sprintf("%s %q", class, f.text)
	}
	return fmt.Sprintf("%s containing %q", class, f.contains)
}

// wantFailure checks oe against want.
func wantFailure(t *testing.T, report string, oe *outcome.Error, want failure) {
	t.Helper()
	if oe == nil {
		t.Fatalf("Deliver succeeded with %q; want a %v failure", report, want)
	}
	ok := oe.Permanent == want.permanent && (want.text == "" || oe.Text == want.text)
	for _, part := range want.contains {
		ok = ok && strings.Contains(oe.Text, part)
	}
	if !ok {
		class := "temporary"
		if oe.Permanent {
			class = "permanent"
		}
		t.Fatalf("Deliver failed %s %q; want %v", class, oe.Text, want)
	}
}
