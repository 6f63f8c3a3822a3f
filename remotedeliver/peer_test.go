package remotedeliver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// The receiving side of the tests: go-smtp's server on a loopback address,
// recording what it is told, and a hand-scripted TCP peer for the cases
// go-smtp's server cannot produce (a bad greeting, a connection closed
// after the final dot, silence).

// listenSame listens on the same free port on each of ips, so that MX
// hosts at those addresses are all reached at Deliverer.Port.
func listenSame(t *testing.T, ips ...string) (int, []net.Listener) {
	t.Helper()
	var lastErr error
	for try := 0; try < 20; try++ {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{first}
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				lastErr = err
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == len(ips) {
			return port, ls
		}
		for _, l := range ls {
			l.Close()
		}
	}
	t.Fatalf("no port free on all of %v: %v", ips, lastErr)
	return 0, nil
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted func()
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted()
	}
	return c, err
}

// hello is one session as go-smtp's server starts it: at EHLO, again
// after STARTTLS.
type hello struct {
	name string
	tls  bool
}

// message is one transaction the peer accepted.
type message struct {
	helo string
	tls  bool
	from string
	to   []string
	data []byte
}

// peer is a receiving SMTP server made with go-smtp's server.
type peer struct {
	ip   string
	addr string
	srv  *gosmtp.Server

	mu       sync.Mutex
	conns    int
	hellos   []hello
	msgs     []message
	failAt   map[string]*gosmtp.SMTPError
	dialogue bytes.Buffer
}

// peerOption changes a peer before it starts.
type peerOption func(*peer)

// failing makes the peer answer cmd ("MAIL", "RCPT", or "DATA" for the
// reply to the message) with the reply "code enhanced text".
func failing(cmd string, code int, enhanced gosmtp.EnhancedCode, text string) peerOption {
	return func(p *peer) {
		p.failAt[cmd] = &gosmtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
	}
}

// refusing makes the peer answer RCPT for one address only.
func refusing(rcpt string, code int, enhanced gosmtp.EnhancedCode, text string) peerOption {
	return failing("RCPT "+rcpt, code, enhanced, text)
}

// offeringTLS makes the peer offer STARTTLS with cert.
func offeringTLS(cert tls.Certificate) peerOption {
	return func(p *peer) {
		p.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
}

// startPeer serves SMTP on l until the test ends.
func startPeer(t *testing.T, l net.Listener, opts ...peerOption) *peer {
	t.Helper()
	p := &peer{addr: l.Addr().String(), failAt: map[string]*gosmtp.SMTPError{}}
	p.ip, _, _ = net.SplitHostPort(p.addr)
	p.srv = gosmtp.NewServer(p)
	p.srv.Domain = "peer-" + p.ip
	p.srv.ReadTimeout = 10 * time.Second
	p.srv.WriteTimeout = 10 * time.Second
	p.srv.Debug = lockedWriter{&p.mu, &p.dialogue}
	p.srv.ErrorLog = log.New(testWriter{t}, p.addr+" ", 0)
	for _, o := range opts {
		o(p)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		p.srv.Serve(countingListener{l, func() { p.mu.Lock(); p.conns++; p.mu.Unlock() }})
	}()
	t.Cleanup(func() {
		// The Deliverer closes its connections before Deliver returns, so
		// the sessions end at once; Close is for a test that failed early.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			p.srv.Close()
		}
		// Serve registers its listener only once it runs: if it had not
		// yet, Shutdown did not close it.
		l.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Errorf("the peer on %s did not stop", p.addr)
		}
	})
	return p
}

// NewSession is called at EHLO.
func (p *peer) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	h := hello{name: c.Hostname(), tls: isTLS}
	p.mu.Lock()
	p.hellos = append(p.hellos, h)
	p.mu.Unlock()
	return &session{p: p, hello: h}, nil
}

func (p *peer) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

func (p *peer) messages() []message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]message(nil), p.msgs...)
}

func (p *peer) sessions() []hello {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]hello(nil), p.hellos...)
}

// transcript is everything said on every connection, both ways.
func (p *peer) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dialogue.String()
}

func (p *peer) failure(cmd string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.failAt[cmd]; e != nil {
		return e
	}
	return nil
}

type session struct {
	p     *peer
	hello hello
	from  string
	to    []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if err := s.p.failure("MAIL"); err != nil {
		return err
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if err := s.p.failure("RCPT " + to); err != nil {
		return err
	}
	if err := s.p.failure("RCPT"); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.p.failure("DATA"); err != nil {
		return err
	}
	s.p.mu.Lock()
	s.p.msgs = append(s.p.msgs, message{helo: s.hello.name, tls: s.hello.tls, from: s.from, to: s.to, data: data})
	s.p.mu.Unlock()
	return nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// scripted is a TCP peer that runs script on each connection it accepts,
// with the connection's reader for the client's lines.
type scripted struct {
	mu    sync.Mutex
	conns int
}

func (s *scripted) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// startScripted serves l with script until the test ends. Each connection
// is bounded by a 10-second deadline.
func startScripted(t *testing.T, l net.Listener, script func(c net.Conn, r *bufio.Reader)) *scripted {
	t.Helper()
	s := &scripted{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				script(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return s
}

// dialogue answers the client's commands as an SMTP server that accepts
// everything, until the client sends the command stop, which is left
// unanswered. It returns false if the connection ended first.
func dialogue(c net.Conn, r *bufio.Reader, stop string) bool {
	io.WriteString(c, "220 scripted ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		if strings.HasPrefix(cmd, stop) {
			return true
		}
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			io.WriteString(c, "250 scripted\r\n")
		case cmd == "DATA":
			io.WriteString(c, "354 go ahead\r\n")
			if !readMessage(r) {
				return false
			}
			if stop == "." {
				return true
			}
			io.WriteString(c, "250 ok\r\n")
		case cmd == "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return false
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

// readMessage reads a message up to and including its final dot.
func readMessage(r *bufio.Reader) bool {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		if line == ".\r\n" {
			return true
		}
	}
}

// selfSigned makes a certificate for the names (DNS names or IP
// addresses) and a pool that trusts it.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
