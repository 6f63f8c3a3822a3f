package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/servertls"
)

// tlsServer returns a server TLS configuration with a new self-signed
// certificate.
func tlsServer(t testing.TB) *tls.Config {
	t.Helper()
	c, k, err := servertls.SelfSigned("mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "servercert.pem")
	if err := os.WriteFile(path, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &servertls.Loader{CertFile: path}
	if err := l.Load(); err != nil {
		t.Fatal(err)
	}
	return l.Config()
}

// doAll sends raw and returns every line of the reply.
func (c *client) doAll(raw string) []string {
	c.t.Helper()
	if _, err := c.c.Write([]byte(raw)); err != nil {
		return []string{"EOF: " + err.Error()}
	}
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return append(lines, "EOF: "+err.Error())
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

// starttls runs STARTTLS and the client's handshake.
func (c *client) starttls() *tls.ConnectionState {
	c.t.Helper()
	if got := c.do("STARTTLS\r\n"); got != "220 ready to start TLS" {
		c.t.Fatalf("STARTTLS: %q", got)
	}
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	st := tc.ConnectionState()
	return &st
}

// passwords is an Authenticator over a map; it counts its calls.
type passwords struct {
	mu    sync.Mutex
	m     map[string]string
	calls int
	err   error
}

func (p *passwords) Authenticate(_ context.Context, login, password string, _ netip.Addr) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return false, p.err
	}
	want, ok := p.m[login]
	return ok && want == password, nil
}

// mailboxes is a RecipientChecker over a map from delivery address to
// account; it counts its calls.
type mailboxes struct {
	mu    sync.Mutex
	m     map[string]string
	calls int
	err   error
}

func (m *mailboxes) CheckRecipient(_ context.Context, deliver string) (bool, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.err != nil {
		return false, "", m.err
	}
	if acct, ok := m.m[deliver]; ok {
		return true, acct, nil
	}
	// Like the helper: an extension of a user is that user's account,
	// and everything else falls to the alias account.
	if local, domain, ok := strings.Cut(deliver, "@"); ok {
		if user, _, ok := strings.Cut(local, "-"); ok {
			if acct, ok := m.m[user+"@"+domain]; ok {
				return false, acct, nil
			}
		}
	}
	return false, "alias", nil
}

var submissionControls = map[string]string{
	"me":             "mx.example.org\n",
	"locals":         "example.org\n",
	"rcpthosts":      "example.org\nvirtual.example\n",
	"virtualdomains": "virtual.example:vuser\n",
	"authsenders":    "alice:alice.list@lists.example.net\n",
}

func plain(login, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + login + "\x00" + password))
}

type submissionFixture struct {
	*fixture
	pw  *passwords
	mb  *mailboxes
	log *logBuffer
}

func newSubmission(t *testing.T, role Role, tweak func(*Server)) *submissionFixture {
	t.Helper()
	sf := &submissionFixture{
		pw:  &passwords{m: map[string]string{"alice": "right horse", "bob@example.org": "battery", "carol@virtual.example": "staple"}},
		mb:  &mailboxes{m: map[string]string{"alice@example.org": "alice", "bob@example.org": "bob", "vuser-carol@virtual.example": "vuser"}},
		log: &logBuffer{},
	}
	cfg := tlsServer(t)
	sf.fixture = newFixtureFull(t, submissionControls, nil, func(s *Server) {
		s.TLS = cfg
		s.Auth = sf.pw
		s.Recipients = sf.mb
		s.AliasAccount = "alias"
		s.AuthFailureDelay = 300 * time.Millisecond
		s.Log = qlog.New(sf.log, "plain")
		if tweak != nil {
			tweak(s)
		}
	}, role)
	return sf
}

func TestSTARTTLSIsOfferedAndRecorded(t *testing.T) {
	sf := newSubmission(t, Role{}, nil)
	c, _ := dial(t, sf.addr)
	if ehlo := strings.Join(c.doAll("EHLO client.example\r\n"), "\n"); !strings.Contains(ehlo, "250-STARTTLS") && !strings.HasSuffix(ehlo, "250 STARTTLS") {
		t.Fatalf("EHLO does not offer STARTTLS:\n%s", ehlo)
	}
	st := c.starttls()
	if st.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", st.Version)
	}
	ehlo := strings.Join(c.doAll("EHLO client.example\r\n"), "\n")
	if strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("after TLS on a plain listener EHLO says:\n%s", ehlo)
	}
	c.do("MAIL FROM:<s@elsewhere.example>\r\n")
	if got := c.do("RCPT TO:<alice@example.org>\r\n"); got != "250 ok" {
		t.Fatalf("RCPT: %q", got)
	}
	c.do("DATA\r\n")
	if got := c.do("Subject: x\r\n\r\nhello\r\n.\r\n"); !strings.HasPrefix(got, "250 ok") {
		t.Fatalf("end of data: %q", got)
	}
	body := string(sf.queue.all()[0].Body)
	want := "with ESMTPS (TLSv1.3 " + tls.CipherSuiteName(st.CipherSuite) + "); "
	if !strings.Contains(body, want) {
		t.Fatalf("Received line does not record TLS (%q):\n%s", want, body)
	}
	if got := c.do("STARTTLS\r\n"); !strings.HasPrefix(got, "503 ") {
		t.Fatalf("a second STARTTLS: %q", got)
	}
}

func TestCommandsPipelinedAfterSTARTTLSAreRefused(t *testing.T) {
	sf := newSubmission(t, Role{}, nil)
	c, _ := dial(t, sf.addr)
	c.do("EHLO client.example\r\n")
	// CVE-2011-0411: a command injected behind STARTTLS in the plain
	// stream must not be taken as if it came over TLS.
	if got := c.do("STARTTLS\r\nRSET\r\n"); !strings.HasPrefix(got, "554 ") {
		t.Fatalf("STARTTLS with a command behind it: %q", got)
	}
	if got := c.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("the connection went on: %q", got)
	}
}

func TestNoSTARTTLSWithoutACertificate(t *testing.T) {
	sf := newSubmission(t, Role{}, func(s *Server) { s.TLSReady = func() bool { return false } })
	c, _ := dial(t, sf.addr)
	if ehlo := strings.Join(c.doAll("EHLO x\r\n"), "\n"); strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("STARTTLS offered without a certificate:\n%s", ehlo)
	}
	if got := c.do("STARTTLS\r\n"); got != "502 unimplemented (#5.5.1)" {
		t.Fatalf("STARTTLS: %q", got)
	}
}

func TestSubmissionNeedsTLSThenAUTH(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true}, nil)
	c, _ := dial(t, sf.addr)
	if ehlo := strings.Join(c.doAll("EHLO x\r\n"), "\n"); strings.Contains(ehlo, "AUTH") {
		t.Fatalf("AUTH offered before TLS:\n%s", ehlo)
	}
	if got := c.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n"); !strings.HasPrefix(got, "530 ") {
		t.Fatalf("AUTH before TLS: %q", got)
	}
	if got := c.do("MAIL FROM:<alice@example.org>\r\n"); !strings.HasPrefix(got, "530 ") {
		t.Fatalf("MAIL without AUTH: %q", got)
	}
	if sf.pw.calls != 0 {
		t.Fatalf("the password was checked before TLS")
	}
	c.starttls()
	if ehlo := strings.Join(c.doAll("EHLO x\r\n"), "\n"); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("AUTH not offered after TLS:\n%s", ehlo)
	}
	if got := c.do("MAIL FROM:<alice@example.org>\r\n"); !strings.HasPrefix(got, "530 ") {
		t.Fatalf("MAIL without AUTH after TLS: %q", got)
	}

	// A wrong password: 535, after the delay, logged without it.
	start := time.Now()
	if got := c.do("AUTH PLAIN " + plain("alice", "wrong staple") + "\r\n"); got != "535 authentication failed (#5.7.8)" {
		t.Fatalf("wrong password: %q", got)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("a failed login was answered after %v, before the delay", d)
	}
	// LOGIN, step by step.
	if got := c.do("AUTH LOGIN\r\n"); got != "334 "+base64.StdEncoding.EncodeToString([]byte("Username:")) {
		t.Fatalf("AUTH LOGIN: %q", got)
	}
	if got := c.do(base64.StdEncoding.EncodeToString([]byte("alice")) + "\r\n"); got != "334 "+base64.StdEncoding.EncodeToString([]byte("Password:")) {
		t.Fatalf("after the username: %q", got)
	}
	if got := c.do(base64.StdEncoding.EncodeToString([]byte("right horse")) + "\r\n"); got != "235 ok, go ahead (#2.0.0)" {
		t.Fatalf("right password: %q", got)
	}
	if got := c.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n"); !strings.HasPrefix(got, "503 ") {
		t.Fatalf("AUTH twice: %q", got)
	}

	// Own addresses, and only those.
	for _, c2 := range []struct{ sender, want string }{
		{"alice@example.org", "250 ok"},
		{"alice-lists@example.org", "250 ok"},
		{"alice.list@lists.example.net", "250 ok"}, // control/authsenders
		{"", "250 ok"},
		{"bob@example.org", "553 sorry, you are not allowed to send as <bob@example.org> (#5.7.1)"},
		{"nobody@example.org", "553 sorry, you are not allowed to send as <nobody@example.org> (#5.7.1)"},
		{"alice@elsewhere.example", "553 sorry, you are not allowed to send as <alice@elsewhere.example> (#5.7.1)"},
	} {
		if got := c.do("MAIL FROM:<" + c2.sender + ">\r\n"); got != c2.want {
			t.Errorf("MAIL FROM:<%s>: %q, want %q", c2.sender, got, c2.want)
		}
	}
	// An authenticated client relays.
	c.do("MAIL FROM:<alice@example.org>\r\n")
	if got := c.do("RCPT TO:<someone@elsewhere.example>\r\n"); got != "250 ok" {
		t.Fatalf("relay after AUTH: %q", got)
	}
	c.do("DATA\r\n")
	if got := c.do("From: Alice <alice@example.org>\r\nSubject: x\r\n\r\nhi\r\n.\r\n"); !strings.HasPrefix(got, "250 ok") {
		t.Fatalf("own From: %q", got)
	}
	if body := string(sf.queue.all()[0].Body); !strings.Contains(body, "with ESMTPSA (TLSv1.3 ") {
		t.Fatalf("Received line:\n%s", body)
	}
	// Someone else's address in From: is refused.
	c.do("MAIL FROM:<alice@example.org>\r\n")
	c.do("RCPT TO:<someone@elsewhere.example>\r\n")
	c.do("DATA\r\n")
	if got := c.do("From: alice@example.org,\r\n Bob <bob@example.org>\r\n\r\nhi\r\n.\r\n"); got != "553 sorry, you are not allowed to send as <bob@example.org> in From: (#5.7.1)" {
		t.Fatalf("another user's From: %q", got)
	}
	if n := len(sf.queue.all()); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
	c.do("QUIT\r\n")
	waitFor(t, func() bool { return strings.Contains(sf.log.String(), ": end 127") })
	log := sf.log.String()
	if strings.Contains(log, "wrong staple") || strings.Contains(log, "right horse") {
		t.Fatalf("a password is in the log:\n%s", log)
	}
	for _, want := range []string{`AUTH failed for "alice" from 127.0.0.1`, `authenticated "alice" from 127.0.0.1`,
		"refused MAIL from 127.0.0.1: 553 sorry, you are not allowed to send as <bob@example.org>",
		"tls TLSv1.3_TLS_", "auth alice messages 1"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

func TestLoginAsAnAddress(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true, ImplicitTLS: true}, nil)
	conn, err := tls.Dial("tcp", sf.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &client{t: t, c: conn, r: bufio.NewReader(conn)}
	if g := c.reply(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("greeting over implicit TLS: %q", g)
	}
	c.doAll("EHLO x\r\n")
	if got := c.do("AUTH PLAIN " + plain("bob@example.org", "battery") + "\r\n"); !strings.HasPrefix(got, "235 ") {
		t.Fatalf("AUTH: %q", got)
	}
	for _, c2 := range []struct{ sender, want string }{
		{"bob@example.org", "250 ok"},
		{"BOB-x@Example.org", "250 ok"},
		{"alice@example.org", "553 sorry, you are not allowed to send as <alice@example.org> (#5.7.1)"},
	} {
		if got := c.do("MAIL FROM:<" + c2.sender + ">\r\n"); got != c2.want {
			t.Errorf("MAIL FROM:<%s>: %q, want %q", c2.sender, got, c2.want)
		}
	}
	conn.Close()
}

func TestFailedLoginsAreLimitedPerAddress(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true}, func(s *Server) {
		s.AuthFailureDelay = time.Millisecond
		s.AuthConfig = &config.Auth{RestrictSenders: true, MaxFailures: 3, FailureWindow: time.Hour}
	})
	c, _ := dial(t, sf.addr)
	c.starttls()
	for i := range 3 {
		if got := c.do("AUTH PLAIN " + plain("alice", "guess") + "\r\n"); !strings.HasPrefix(got, "535 ") {
			t.Fatalf("guess %d: %q", i, got)
		}
	}
	if got := c.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n"); !strings.HasPrefix(got, "421 ") {
		t.Fatalf("after 3 failures: %q", got)
	}
	// A new connection from the same address is refused too.
	c2, _ := dial(t, sf.addr)
	c2.starttls()
	if got := c2.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n"); !strings.HasPrefix(got, "421 ") {
		t.Fatalf("a new session after 3 failures: %q", got)
	}
	if sf.pw.calls != 3 {
		t.Fatalf("%d password checks, want 3", sf.pw.calls)
	}
}

func TestTemporaryAuthTroubleIs454(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true}, nil)
	sf.pw.err = errors.New("helper gone")
	c, _ := dial(t, sf.addr)
	c.starttls()
	if got := c.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n"); got != "454 temporary authentication failure (#4.7.0)" {
		t.Fatalf("AUTH with the checker gone: %q", got)
	}
}

func TestUnknownLocalRecipientsAreRefusedAtRCPT(t *testing.T) {
	for _, verify := range []bool{true, false} {
		sf := newSubmission(t, Role{}, func(s *Server) { s.Config.VerifyLocalRecipients = verify })
		c, _ := dial(t, sf.addr)
		c.do("HELO x\r\n")
		c.do("MAIL FROM:<s@elsewhere.example>\r\n")
		for _, r := range []struct{ rcpt, want string }{
			{"alice@example.org", "250 ok"},
			{"carol@virtual.example", "250 ok"},
			{"nobody@example.org", "550 sorry, no mailbox here by that name (#5.1.1)"},
			{"dave@virtual.example", "550 sorry, no mailbox here by that name (#5.1.1)"},
			{"postmaster", "250 ok"},
			{"PostMaster@example.org", "250 ok"},
		} {
			want := r.want
			if !verify {
				want = "250 ok"
			}
			if got := c.do("RCPT TO:<" + r.rcpt + ">\r\n"); got != want {
				t.Errorf("verify %v: RCPT TO:<%s>: %q, want %q", verify, r.rcpt, got, want)
			}
		}
		if !verify && sf.mb.calls != 0 {
			t.Errorf("verification off, yet %d checks", sf.mb.calls)
		}
	}
	// Trouble asking accepts, as qmail would.
	sf := newSubmission(t, Role{}, nil)
	sf.mb.err = errors.New("helper gone")
	c, _ := dial(t, sf.addr)
	c.do("MAIL FROM:<s@elsewhere.example>\r\n")
	if got := c.do("RCPT TO:<nobody@example.org>\r\n"); got != "250 ok" {
		t.Fatalf("RCPT with the checker gone: %q", got)
	}
}

func TestQueueFilterDecides(t *testing.T) {
	dir := t.TempDir()
	filter := filepath.Join(dir, "filter")
	os.WriteFile(filter, []byte("#!/bin/sh\ncat > "+dir+"/msg\ncat <&1 > "+dir+"/env\ngrep -q VIRUS "+dir+"/msg && exit 31\ngrep -q LATER "+dir+"/msg && exit 71\nexit 0\n"), 0o755)
	sf := newSubmission(t, Role{}, func(s *Server) { s.Filter = &Filter{Argv: []string{filter}, Timeout: 10 * time.Second} })
	c, _ := dial(t, sf.addr)
	c.do("HELO x\r\n")
	for _, m := range []struct{ body, want string }{
		{"VIRUS", "554 mail server permanently rejected message (#5.3.0)"},
		{"LATER", "451 mail server temporarily rejected message (#4.3.0)"},
		{"clean", "250 ok"},
	} {
		c.do("MAIL FROM:<s@elsewhere.example>\r\n")
		c.do("RCPT TO:<alice@example.org>\r\n")
		c.do("DATA\r\n")
		if got := c.do("Subject: x\r\n\r\n" + m.body + "\r\n.\r\n"); !strings.HasPrefix(got, m.want) {
			t.Errorf("%s: %q, want %q", m.body, got, m.want)
		}
	}
	if n := len(sf.queue.all()); n != 1 {
		t.Fatalf("%d messages queued, want only the clean one", n)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	if string(env) != "Fs@elsewhere.example\x00Talice@example.org\x00\x00" {
		t.Fatalf("the filter's envelope: %q", env)
	}
	msg, _ := os.ReadFile(filepath.Join(dir, "msg"))
	if !strings.HasPrefix(string(msg), "Received: from ") {
		t.Fatalf("the filter's message does not start with the Received line: %q", msg)
	}
}

func TestFilterThatHangsIs451(t *testing.T) {
	filter := filepath.Join(t.TempDir(), "filter")
	os.WriteFile(filter, []byte("#!/bin/sh\nsleep 60\n"), 0o755)
	sf := newSubmission(t, Role{}, func(s *Server) { s.Filter = &Filter{Argv: []string{filter}, Timeout: 300 * time.Millisecond} })
	c, _ := dial(t, sf.addr)
	c.do("MAIL FROM:<s@elsewhere.example>\r\n")
	c.do("RCPT TO:<alice@example.org>\r\n")
	c.do("DATA\r\n")
	if got := c.do("x\r\n.\r\n"); got != "451 qq timeout (#4.3.0)" {
		t.Fatalf("a hanging filter: %q", got)
	}
}

func TestSessionAndRefusalsAreLogged(t *testing.T) {
	sf := newSubmission(t, Role{}, nil)
	c, _ := dial(t, sf.addr)
	c.do("HELO client.example\r\n")
	c.do("MAIL FROM:<s@elsewhere.example>\r\n")
	c.do("RCPT TO:<nobody@example.org>\r\n")
	c.do("RCPT TO:<x@elsewhere.example>\r\n")
	// 19 errors, then an accepted message, which starts the count of
	// errors again, three times: 57 refusals, 50 of them logged.
	for i := range 3 {
		n := 19
		if i == 0 {
			n -= 2 // the two refused RCPTs
		}
		for range n {
			c.do("BOGUS\r\n")
		}
		c.do("MAIL FROM:<s@elsewhere.example>\r\n")
		c.do("RCPT TO:<alice@example.org>\r\n")
		c.do("DATA\r\n")
		if got := c.do("hi\r\n.\r\n"); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("a message between errors: %q", got)
		}
	}
	c.do("QUIT\r\n")
	waitFor(t, func() bool { return strings.Contains(sf.log.String(), ": end ") })
	log := sf.log.String()
	for _, want := range []string{
		": start 127.0.0.1 on 127.0.0.1:",
		"refused RCPT from 127.0.0.1: 550 sorry, no mailbox here by that name (#5.1.1)",
		"refused RCPT from 127.0.0.1: 553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
		"refused (unknown) from 127.0.0.1: 502",
		"more refusals in this session are not logged",
		"end 127.0.0.1 helo client.example tls none auth none messages 3 refusals 57 duration ",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "refused"); n != maxLoggedRefusals {
		t.Errorf("%d refusal lines, want %d", n, maxLoggedRefusals)
	}
}

// Twenty refusals without an accepted message between them close the
// session: probing recipients or commands costs the connection.
func TestTooManyErrorsCloseTheSession(t *testing.T) {
	sf := newSubmission(t, Role{}, nil)
	c, _ := dial(t, sf.addr)
	c.do("HELO client.example\r\n")
	c.do("MAIL FROM:<s@elsewhere.example>\r\n")
	for i := range maxErrors - 1 {
		if got := c.do(fmt.Sprintf("RCPT TO:<probe%d@example.org>\r\n", i)); !strings.HasPrefix(got, "550 ") {
			t.Fatalf("probe %d: %q", i, got)
		}
	}
	if got := c.do("RCPT TO:<probe-last@example.org>\r\n"); !strings.HasPrefix(got, "550 ") {
		t.Fatalf("the last probe: %q", got)
	}
	if got := c.reply(); got != "421 too many errors, closing the connection (#4.7.0)" {
		t.Fatalf("after %d errors: %q", maxErrors, got)
	}
	if got := c.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("the session went on: %q", got)
	}
}

// A login that is an address at a virtual domain owns that address and
// its extensions, not every address the domain's account receives.
func TestVirtualDomainLoginOwnsItsOwnAddressOnly(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true}, nil)
	sf.mb.m["vuser-ceo@virtual.example"] = "vuser"
	c, _ := dial(t, sf.addr)
	c.starttls()
	if got := c.do("AUTH PLAIN " + plain("carol@virtual.example", "staple") + "\r\n"); !strings.HasPrefix(got, "235 ") {
		t.Fatalf("AUTH: %q", got)
	}
	for _, c2 := range []struct{ sender, want string }{
		{"carol@virtual.example", "250 ok"},
		{"Carol-News@Virtual.Example", "250 ok"},
		{"ceo@virtual.example", "553 sorry, you are not allowed to send as <ceo@virtual.example> (#5.7.1)"},
		{"carolyn@virtual.example", "553 sorry, you are not allowed to send as <carolyn@virtual.example> (#5.7.1)"},
		{"vuser@example.org", "553 sorry, you are not allowed to send as <vuser@example.org> (#5.7.1)"},
	} {
		if got := c.do("MAIL FROM:<" + c2.sender + ">\r\n"); got != c2.want {
			t.Errorf("MAIL FROM:<%s>: %q, want %q", c2.sender, got, c2.want)
		}
	}
}

// From: fields are found however their name is spaced, must hold a
// mailbox, and cannot make the server hold more than a few KiB.
func TestFromHeaderForms(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true}, nil)
	c, _ := dial(t, sf.addr)
	c.starttls()
	c.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n")
	for _, m := range []struct{ header, want string }{
		{"From : bob@example.org\r\n", "553 sorry, you are not allowed to send as <bob@example.org> in From: (#5.7.1)"},
		{"FROM\t: Bob <bob@example.org>\r\n", "553 sorry, you are not allowed to send as <bob@example.org> in From: (#5.7.1)"},
		{"From: \"bob@example.org\":;\r\n", "554 the From: field cannot be parsed, so it cannot be checked (#5.7.1)"},
		{"From:\r\n", "554 the From: field cannot be parsed, so it cannot be checked (#5.7.1)"},
		{strings.Repeat("From:\r\n", 100000), "552 the From: field is too long to check (#5.7.1)"},
		{"From: alice@example.org\r\nFromage: bob@example.org\r\n", "250 ok"},
	} {
		c.do("MAIL FROM:<alice@example.org>\r\n")
		c.do("RCPT TO:<someone@elsewhere.example>\r\n")
		c.do("DATA\r\n")
		if got := c.do(m.header + "\r\nbody\r\n.\r\n"); !strings.HasPrefix(got, m.want) {
			t.Errorf("%.40q: %q, want %q", m.header, got, m.want)
		}
	}
}

func TestFromCaptureIsBounded(t *testing.T) {
	m := newMessageWriter(io.Discard, 1<<30)
	m.captureFrom = true
	for range 100000 {
		m.write([]byte("From:\n"))
	}
	m.write([]byte("From: " + strings.Repeat("x", 1<<20) + "\n"))
	if !m.fromOverflow || len(m.from) > maxFromFields || m.fromSize > maxFromBytes+fieldCost {
		t.Fatalf("overflow %v, %d fields, %d bytes", m.fromOverflow, len(m.from), m.fromSize)
	}
	total := 0
	for _, f := range m.from {
		total += cap(f)
	}
	if total > 2*maxFromBytes {
		t.Fatalf("%d bytes held for From: fields", total)
	}
}

// Sessions in parallel from one address cannot try more logins than the
// limit: each attempt takes its place in the count before it is made.
func TestParallelLoginsStayWithinTheLimit(t *testing.T) {
	sf := newSubmission(t, Role{Submission: true}, func(s *Server) {
		s.AuthFailureDelay = 200 * time.Millisecond
		s.AuthConfig = &config.Auth{RestrictSenders: true, MaxFailures: 3, FailureWindow: time.Hour}
	})
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			c, _ := dial(t, sf.addr)
			c.starttls()
			c.do("AUTH PLAIN " + plain("alice", "guess") + "\r\n")
		})
	}
	wg.Wait()
	if sf.pw.calls != 3 {
		t.Fatalf("%d passwords checked in parallel sessions, want the limit, 3", sf.pw.calls)
	}
	// A login that works gives its place back.
	sf2 := newSubmission(t, Role{Submission: true}, func(s *Server) {
		s.AuthConfig = &config.Auth{RestrictSenders: true, MaxFailures: 1, FailureWindow: time.Hour}
	})
	for range 3 {
		c, _ := dial(t, sf2.addr)
		c.starttls()
		if got := c.do("AUTH PLAIN " + plain("alice", "right horse") + "\r\n"); !strings.HasPrefix(got, "235 ") {
			t.Fatalf("a good login counted as a failure: %q", got)
		}
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("timed out waiting")
}

// An attempt given back after its window ended gives nothing to the next
// window, and over-long lines count as errors too.
func TestFailureWindowsAndLongLines(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newFailureCounter(3, time.Minute)
	f.now = func() time.Time { return now }
	ip := netip.MustParseAddr("192.0.2.1")
	_, held, _ := f.reserve(ip) // a session holds an attempt open
	now = now.Add(2 * time.Minute)
	for range 3 {
		if _, _, ok := f.reserve(ip); !ok {
			t.Fatal("refused in a new window")
		}
	}
	f.undo(ip, held) // the old attempt ends without failing
	if n, _, ok := f.reserve(ip); ok {
		t.Fatalf("a fourth attempt in the window (count %d): the old window's undo freed a place", n)
	}

	sf := newSubmission(t, Role{}, nil)
	c, _ := dial(t, sf.addr)
	long := strings.Repeat("x", maxCommandLine+10) + "\r\n"
	for i := range maxErrors {
		if got := c.do(long); got != "500 line too long (#5.5.2)" {
			t.Fatalf("long line %d: %q", i, got)
		}
	}
	if got := c.reply(); got != "421 too many errors, closing the connection (#4.7.0)" {
		t.Fatalf("after %d long lines: %q", maxErrors, got)
	}
}
