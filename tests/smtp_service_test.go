package tests

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/servertls"
)

// The users of the SMTP service tests.
const (
	svcAlice = "gq10alice"
	svcBob   = "gq10bob"
	svcAlias = "gq10alias"
)

// serviceSite is a root run as root, with real users, a certificate, and
// three listeners: plain (port 25's role), submission with STARTTLS (587)
// and submission over implicit TLS (465).
type serviceSite struct {
	root, homes                 string
	plain, submission, implicit string
	certFile                    string
	alice, bob, alias           account
}

func (s *serviceSite) maildir(acct account) string {
	return filepath.Join(s.homes, acct.name, "Maildir")
}

// newServiceSite makes the users and the root; extraTOML is added to
// qmail.toml.
func newServiceSite(t *testing.T, extraTOML string, controls map[string]string) *serviceSite {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon runs as root, drops to its account, and delivers as accounts made with useradd")
	}
	need(t, "useradd", "usermod")
	base := scratch(t, account{"root", 0, 0})
	s := &serviceSite{root: filepath.Join(base, "root"), homes: filepath.Join(base, "home")}
	os.MkdirAll(s.homes, 0o755)
	daemonAcct := realUser(t, userDaemon, "/nonexistent", "--system")
	s.alice = realUser(t, svcAlice, filepath.Join(s.homes, svcAlice))
	s.bob = realUser(t, svcBob, filepath.Join(s.homes, svcBob))
	s.alias = realUser(t, svcAlias, filepath.Join(s.homes, svcAlias))
	for acct, files := range map[account]map[string]string{
		s.alice: {".qmail": "./Maildir/\n", ".qmail-ext": "./Maildir/\n"},
		s.bob:   {".qmail": "./Maildir/\n", ".qmail-default": "./Maildir/\n"},
		s.alias: {".qmail-info": "./Maildir/\n"},
	} {
		home := filepath.Join(s.homes, acct.name)
		makeHome(t, home, acct, files)
		for _, d := range []string{"tmp", "new", "cur"} {
			os.MkdirAll(filepath.Join(home, "Maildir", d), 0o700)
		}
		chownTree(t, home, acct)
	}
	s.plain = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.submission = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.implicit = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	write(t, filepath.Join(s.root, "qmail.toml"), fmt.Sprintf(`[smtp]
listen = [%q]
%s
[[smtp.listener]]
address = %q
submission = true
[[smtp.listener]]
address = %q
submission = true
implicit_tls = true
[users]
daemon = %q
alias = %q
[tls]
required = true
[dns]
servers = ["127.0.0.1:9"]
`, s.plain, extraTOML, s.submission, s.implicit, userDaemon, svcAlias))
	ctl := map[string]string{
		"me":             "localhost\n",
		"locals":         "localhost\n",
		"rcpthosts":      "localhost\nvirtual.example\n",
		"virtualdomains": "virtual.example:" + svcBob + "\n",
	}
	for k, v := range controls {
		ctl[k] = v
	}
	for name, text := range ctl {
		write(t, filepath.Join(s.root, "control", name), text)
	}
	s.certFile = filepath.Join(s.root, "control", "servercert.pem")
	s.renewCert(t, daemonAcct)
	return s
}

// renewCert writes a new self-signed certificate for localhost, readable
// by the daemon's account only, and returns its serial number.
func (s *serviceSite) renewCert(t *testing.T, daemonAcct account) string {
	t.Helper()
	c, k, err := servertls.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tmp := s.certFile + ".new"
	os.MkdirAll(filepath.Dir(tmp), 0o755)
	if err := os.WriteFile(tmp, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(tmp, daemonAcct.uid, daemonAcct.gid)
	if err := os.Rename(tmp, s.certFile); err != nil {
		t.Fatal(err)
	}
	write(t, s.certFile+".crt", string(c))
	blk, _ := pem.Decode(c)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

// servedSerial is the serial number of the certificate the implicit TLS
// listener serves to a new connection.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// mailWith returns the messages of a Maildir's new/ holding token.
func mailWith(t *testing.T, maildir, token string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(maildir, "new"))
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(maildir, "new", e.Name()))
		if err == nil && strings.Contains(string(b), token) {
			out = append(out, string(b))
		}
	}
	return out
}

// tlsSession is an SMTP session that can switch to TLS.
type tlsSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialTLSSession(t *testing.T, addr string) *tlsSession {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	s := &tlsSession{t: t, c: c, r: bufio.NewReader(c)}
	if g := s.reply(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("greeting: %q", g)
	}
	return s
}

// reply returns the reply's last line.
func (s *tlsSession) reply() string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "EOF: " + err.Error()
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (s *tlsSession) do(cmd string) string {
	s.t.Helper()
	fmt.Fprintf(s.c, "%s\r\n", cmd)
	return s.reply()
}

func (s *tlsSession) starttls() {
	s.t.Helper()
	if got := s.do("STARTTLS"); !strings.HasPrefix(got, "220 ") {
		s.t.Fatalf("STARTTLS: %q", got)
	}
	tc := tls.Client(s.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		s.t.Fatalf("TLS handshake: %v", err)
	}
	s.c, s.r = tc, bufio.NewReader(tc)
	s.do("EHLO client.example")
}

func authPlain(login, password string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+login+"\x00"+password))
}

// TestSMTPServiceWithRealClients is issue 10's acceptance with the
// clients people use: swaks over STARTTLS and implicit TLS with AUTH,
// Python's smtplib with starttls(), mutt with its default TLS settings and
// msmtp with auth and tls on; then the certificate renewed on disk, the
// AUTH refusals, the sender restriction, recipients checked at RCPT, SIZE
// at MAIL and the session log, against the daemon run as root.
func TestSMTPServiceWithRealClients(t *testing.T) {
	need(t, "swaks", "msmtp", "mutt", "/usr/bin/python3")
	s := newServiceSite(t, "", nil)
	d := startDaemonWith(t, s.root, s.plain, account{"root", 0, 0}, nil)
	// The table is read at each login: set after the start, it counts.
	setPassword(t, s.root, svcAlice, "alice-secret")
	setPassword(t, s.root, svcBob, "bob-secret")
	waitFor(t, "the implicit TLS listener", 10*time.Second, func() bool { return strings.Contains(d.log.String(), "listening on "+s.implicit) })

	t.Run("swaks STARTTLS with AUTH PLAIN on submission", func(t *testing.T) {
		out, err := exec.Command("swaks", "--server", s.submission, "--tls", "--auth", "PLAIN",
			"--auth-user", svcAlice, "--auth-password", "alice-secret",
			"--from", svcAlice+"@localhost", "--to", svcBob+"@localhost",
			"--header", "Subject: token-swaks-starttls", "--body", "over STARTTLS\n").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks --tls: %v\n%s", err, out)
		}
	})
	t.Run("swaks implicit TLS with AUTH LOGIN", func(t *testing.T) {
		out, err := exec.Command("swaks", "--server", s.implicit, "--tlsc", "--auth", "LOGIN",
			"--auth-user", svcBob, "--auth-password", "bob-secret",
			"--from", svcBob+"-lists@localhost", "--to", svcAlice+"-ext@localhost",
			"--header", "Subject: token-swaks-tlsc", "--body", "over implicit TLS\n").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks --tlsc: %v\n%s", err, out)
		}
	})
	t.Run("smtplib starttls on the plain listener", func(t *testing.T) {
		host, port, _ := strings.Cut(s.plain, ":")
		py := fmt.Sprintf(`
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP(%q, %s, timeout=30) as c:
    c.ehlo("client.example")
    c.starttls(context=ctx)
    c.ehlo("client.example")
    c.sendmail("py@elsewhere.example", ["%s@localhost"], "Subject: token-smtplib-tls\r\n\r\nover STARTTLS from smtplib\r\n")
`, host, port, svcAlice)
		if out, err := exec.Command("/usr/bin/python3", "-c", py).CombinedOutput(); err != nil {
			t.Fatalf("smtplib: %v\n%s", err, out)
		}
	})
	t.Run("mutt with its default TLS settings", func(t *testing.T) {
		home := t.TempDir()
		_, port, _ := strings.Cut(s.submission, ":")
		// mutt checks the certificate: it trusts the test's own, and
		// nothing else is set about TLS.
		write(t, filepath.Join(home, ".muttrc"), fmt.Sprintf(`set smtp_url="smtp://%s@localhost:%s/"
set smtp_pass="alice-secret"
set from="%s@localhost"
set certificate_file="%s"
set record=""
`, svcAlice, port, svcAlice, s.certFile+".crt"))
		cmd := exec.Command("mutt", "-n", "-F", filepath.Join(home, ".muttrc"), "-s", "token-mutt", svcBob+"@localhost")
		cmd.Env = append(os.Environ(), "HOME="+home, "TERM=dumb")
		cmd.Stdin = strings.NewReader("sent by mutt over STARTTLS\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mutt: %v\n%s", err, out)
		}
	})
	t.Run("msmtp with auth and tls on", func(t *testing.T) {
		_, port, _ := strings.Cut(s.submission, ":")
		cmd := exec.Command("msmtp", "--host=localhost", "--port="+port, "--auth=on", "--user="+svcAlice,
			"--passwordeval=echo alice-secret", "--tls=on", "--tls-starttls=on", "--tls-trust-file="+s.certFile+".crt",
			"--from="+svcAlice+"@localhost", svcBob+"@localhost")
		cmd.Stdin = strings.NewReader("Subject: token-msmtp-tls\n\nsent by msmtp\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("msmtp: %v\n%s", err, out)
		}
	})
	for _, m := range []struct {
		acct  account
		token string
	}{{s.bob, "token-swaks-starttls"}, {s.alice, "token-swaks-tlsc"}, {s.alice, "token-smtplib-tls"}, {s.bob, "token-mutt"}, {s.bob, "token-msmtp-tls"}} {
		waitFor(t, m.token+" in "+m.acct.name+"'s Maildir", 30*time.Second, func() bool { return len(mailWith(t, s.maildir(m.acct), m.token)) == 1 })
	}
	if m := mailWith(t, s.maildir(s.alice), "token-smtplib-tls")[0]; !regexp.MustCompile(`by localhost with ESMTPS \(TLSv1\.[23] TLS_[A-Z0-9_]+\);`).MatchString(m) {
		t.Errorf("the Received line does not record TLS:\n%s", m)
	}
	if m := mailWith(t, s.maildir(s.bob), "token-swaks-starttls")[0]; !strings.Contains(m, "with ESMTPSA (TLSv1.") {
		t.Errorf("the Received line does not record TLS and AUTH:\n%s", m)
	}

	t.Run("a renewed certificate is served without a restart", func(t *testing.T) {
		before := servedSerial(t, s.implicit)
		daemonAcct := realUser(t, userDaemon, "/nonexistent", "--system")
		renewed := s.renewCert(t, daemonAcct)
		if renewed == before {
			t.Fatal("the new certificate has the old serial number")
		}
		// The files are looked at once a second at most.
		waitFor(t, "the renewed certificate", 10*time.Second, func() bool { return servedSerial(t, s.implicit) == renewed })
	})

	t.Run("AUTH refusals", func(t *testing.T) {
		c := dialTLSSession(t, s.submission)
		c.do("EHLO client.example")
		if got := c.do(authPlain(svcAlice, "alice-secret")); !strings.HasPrefix(got, "530 ") {
			t.Fatalf("AUTH before TLS: %q", got)
		}
		c.starttls()
		start := time.Now()
		if got := c.do(authPlain(svcAlice, "wrong-horse-9")); got != "535 authentication failed (#5.7.8)" {
			t.Fatalf("a wrong password: %q", got)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("a wrong password was answered after %v, before the 2 s delay", d)
		}
		if got := c.do(authPlain(svcAlice, "alice-secret")); !strings.HasPrefix(got, "235 ") {
			t.Fatalf("the right password: %q", got)
		}
		if got := c.do("MAIL FROM:<" + svcBob + "@localhost>"); got != "553 sorry, you are not allowed to send as <"+svcBob+"@localhost> (#5.7.1)" {
			t.Fatalf("another user's address: %q", got)
		}
		if got := c.do("MAIL FROM:<" + svcAlice + "@localhost>"); got != "250 ok" {
			t.Fatalf("her own address: %q", got)
		}
		if got := c.do("RCPT TO:<someone@elsewhere.example>"); got != "250 ok" {
			t.Fatalf("relay after AUTH: %q", got)
		}
		c.do("QUIT")
		if log := d.log.String(); strings.Contains(log, "wrong-horse-9") || strings.Contains(log, "alice-secret") {
			t.Fatalf("a password is in the log:\n%s", log)
		}
		if !strings.Contains(d.log.String(), `AUTH failed for "`+svcAlice+`" from 127.0.0.1`) {
			t.Errorf("the failed login is not logged:\n%s", d.log)
		}
	})

	t.Run("recipients are checked at RCPT", func(t *testing.T) {
		c := dialTLSSession(t, s.plain)
		c.do("HELO client.example")
		c.do("MAIL FROM:<s@elsewhere.example>")
		for _, r := range []struct{ rcpt, want string }{
			{svcAlice + "@localhost", "250 ok"},
			{"gq10nobody@localhost", "550 sorry, no mailbox here by that name (#5.1.1)"},
			{svcAlice + "-ext@localhost", "250 ok"},                                             // .qmail-ext
			{svcAlice + "-other@localhost", "550 sorry, no mailbox here by that name (#5.1.1)"}, // no file, no -default
			{svcBob + "-anything@localhost", "250 ok"},                                          // .qmail-default
			{"info@localhost", "250 ok"},                                                        // ~alias/.qmail-info
			{"zed@localhost", "550 sorry, no mailbox here by that name (#5.1.1)"},               // no alias file
			{"carol@virtual.example", "250 ok"},                                                 // gq10bob's .qmail-default
			{"postmaster", "250 ok"},                                                            // RFC 5321
			{"PostMaster@localhost", "250 ok"},
		} {
			if got := c.do("RCPT TO:<" + r.rcpt + ">"); got != r.want {
				t.Errorf("RCPT TO:<%s>: %q, want %q", r.rcpt, got, r.want)
			}
		}
		c.do("RSET")
		if got := c.do("MAIL FROM:<s@elsewhere.example> SIZE=999999999999"); !strings.HasPrefix(got, "552 ") {
			t.Errorf("MAIL with a SIZE over the limit: %q", got)
		}
		c.do("QUIT")
	})

	t.Run("the session log", func(t *testing.T) {
		for _, re := range []string{
			`smtp \d+: start 127\.0\.0\.1 on ` + regexp.QuoteMeta(s.submission) + ` \(submission\)`,
			`smtp \d+: start 127\.0\.0\.1 on ` + regexp.QuoteMeta(s.implicit) + ` \(submissions\)`,
			`smtp \d+: refused RCPT from 127\.0\.0\.1: 550 sorry, no mailbox here by that name \(#5\.1\.1\)`,
			`smtp \d+: refused MAIL from 127\.0\.0\.1: 553 sorry, you are not allowed to send as <` + svcBob + `@localhost> \(#5\.7\.1\)`,
			`smtp \d+: end 127\.0\.0\.1 helo \S+ tls TLSv1\.3_TLS_\S+ auth ` + svcAlice + ` messages 1 refusals 0 duration \S+`,
			`smtp \d+: end 127\.0\.0\.1 helo client\.example tls none auth none messages 0 refusals 4 duration \S+`,
		} {
			// A session's end line comes once the server saw it end.
			waitFor(t, "a log line matching "+re, 10*time.Second, func() bool { return regexp.MustCompile(re).MatchString(d.log.String()) })
		}
	})
}

// TestSMTPServiceFiltersAndOldBehaviour checks the rest of issue 10 on a
// daemon set the other way: verify_local_recipients off (qmail's accept,
// then bounce), a queue filter that refuses and defers, and a
// third-party checkpassword program with its login's senders in
// control/authsenders.
func TestSMTPServiceFiltersAndOldBehaviour(t *testing.T) {
	need(t, "/usr/bin/python3")
	// The daemon's account runs the filter: its directory is open to all.
	dir := scratch(t, account{"root", 0, 0})
	filter := filepath.Join(dir, "filter")
	write(t, filter, "#!/bin/sh\nmsg=$(cat)\ncat <&1 >/dev/null\ncase \"$msg\" in *VIRUS*) exit 31;; *LATER*) exit 71;; esac\nexit 0\n")
	os.Chmod(filter, 0o755)
	checkpw := filepath.Join(dir, "checkpassword")
	write(t, checkpw, `#!/usr/bin/python3
import os, sys
data = os.read(3, 512)
login, password = data.split(b"\0")[:2]
if login == b"thirdparty" and password == b"tp-secret":
    os.execvp(sys.argv[1], sys.argv[1:])
sys.exit(1)
`)
	os.Chmod(checkpw, 0o755)
	s := newServiceSite(t, fmt.Sprintf("verify_local_recipients = false\nqueue_filter = [%q]\n[auth]\ncheckpassword = [%q]\n", filter, checkpw),
		map[string]string{"authsenders": "thirdparty:thirdparty@localhost\n"})
	d := startDaemonWith(t, s.root, s.plain, account{"root", 0, 0}, nil)

	c := dialTLSSession(t, s.plain)
	c.do("HELO client.example")
	c.do("MAIL FROM:<s@elsewhere.example>")
	if got := c.do("RCPT TO:<gq10nobody@localhost>"); got != "250 ok" {
		t.Fatalf("with verify_local_recipients off, an unknown user: %q", got)
	}
	c.do("RSET")
	for _, m := range []struct{ body, want string }{
		{"VIRUS", "554 mail server permanently rejected message (#5.3.0)"},
		{"LATER", "451 mail server temporarily rejected message (#4.3.0)"},
		{"clean token-filter-clean", "250 ok"},
	} {
		c.do("MAIL FROM:<s@elsewhere.example>")
		c.do("RCPT TO:<" + svcAlice + "@localhost>")
		c.do("DATA")
		if got := c.do("Subject: filter\r\n\r\n" + m.body + "\r\n."); !strings.HasPrefix(got, m.want) {
			t.Errorf("%s: %q, want %q", m.body, got, m.want)
		}
	}
	waitFor(t, "the clean message delivered", 30*time.Second, func() bool { return len(mailWith(t, s.maildir(s.alice), "token-filter-clean")) == 1 })
	if n := strings.Count(d.log.String(), "new msg "); n != 1 {
		t.Errorf("%d messages queued, want only the clean one:\n%s", n, d.log)
	}

	sub := dialTLSSession(t, s.submission)
	sub.do("EHLO client.example")
	sub.starttls()
	if got := sub.do(authPlain("thirdparty", "nope")); !strings.HasPrefix(got, "535 ") {
		t.Fatalf("the third-party checkpassword took a wrong password: %q", got)
	}
	if got := sub.do(authPlain("thirdparty", "tp-secret")); !strings.HasPrefix(got, "235 ") {
		t.Fatalf("the third-party checkpassword: %q", got)
	}
	if got := sub.do("MAIL FROM:<thirdparty@localhost>"); got != "250 ok" {
		t.Fatalf("a sender control/authsenders gives the login: %q", got)
	}
	if got := sub.do("MAIL FROM:<" + svcAlice + "@localhost>"); !strings.HasPrefix(got, "553 ") {
		t.Fatalf("another user's address: %q", got)
	}
}
