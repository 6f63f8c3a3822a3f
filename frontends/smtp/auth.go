package smtp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// Authenticator checks the logins of SMTP AUTH. The daemon's asks the root
// helper, which runs the checkpassword program: the network-facing process
// never holds a password table.
type Authenticator interface {
	// Authenticate reports whether password is login's. An error is
	// trouble on the way (the checker is gone, or timed out), answered
	// 454 so that the client tries again.
	Authenticate(ctx context.Context, login, password string, client netip.Addr) (bool, error)
}

// maxCredential bounds a login or a password; longer ones are refused
// without a check.
const maxCredential = 256

// authFailureDelay is how long a failed login waits for its answer.
const authFailureDelay = 2 * time.Second

// errAuthAborted is the client's "*" in the middle of an exchange.
var errAuthAborted = errors.New("AUTH aborted by the client")

// errBadCredentials is a login or password we refuse without asking.
var errBadCredentials = errors.New("malformed credentials")

// auth runs the AUTH command. It reports whether the session goes on.
func (ss *session) auth(arg string) bool {
	switch {
	case !ss.p.role.Submission || ss.srv.Auth == nil:
		ss.reply("502 unimplemented (#5.5.1)")
		return true
	case ss.c.tls == nil:
		ss.reply("530 must issue a STARTTLS command first (#5.7.0)")
		return true
	case ss.login != "":
		ss.reply("503 you are already authenticated (#5.5.1)")
		return true
	case ss.seenMail:
		ss.reply("503 AUTH not allowed during a mail transaction (#5.5.1)")
		return true
	}
	// The attempt takes its place in the count before it is made, so
	// that sessions in parallel cannot try more than the limit; one that
	// does not fail gives it back.
	n, window, ok := ss.srv.failures.reserve(ss.p.remoteIP)
	if !ok {
		ss.reply(fmt.Sprintf("421 too many failed logins from your address (%d), try again later (#4.7.0)", n))
		return false
	}
	failed := false
	defer func() {
		if !failed {
			ss.srv.failures.undo(ss.p.remoteIP, window)
		}
	}()
	fail := func(login, why string) {
		failed = true
		ss.authFailed(login, why, n)
	}
	mech, initial, hasInitial := strings.Cut(arg, " ")
	var login, password string
	var server sasl.Server
	switch strings.ToUpper(mech) {
	case "PLAIN":
		server = sasl.NewPlainServer(func(identity, username, pass string) error {
			if identity != "" && identity != username {
				return errors.New("authorization identity differs from the login")
			}
			login, password = username, pass
			return nil
		})
	case "LOGIN":
		server = &loginServer{done: func(username, pass string) { login, password = username, pass }}
	default:
		ss.reply("504 unrecognized authentication type (#5.5.4)")
		return true
	}
	var resp []byte
	if hasInitial {
		if initial == "=" {
			resp = []byte{}
		} else if b, err := base64.StdEncoding.DecodeString(initial); err == nil {
			resp = b
		} else {
			ss.reply("501 malformed auth input (#5.5.4)")
			return true
		}
	}
	for {
		challenge, done, err := server.Next(resp)
		if err != nil {
			fail("(malformed)", "the exchange did not parse")
			ss.reply("535 authentication failed (#5.7.8)")
			return true
		}
		if done {
			break
		}
		ss.reply("334 " + base64.StdEncoding.EncodeToString(challenge))
		line, err := ss.c.readLine()
		if err != nil {
			ss.end(err)
			return false
		}
		if line == "*" {
			ss.reply("501 AUTH aborted (#5.0.0)")
			return true
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			ss.reply("501 malformed auth input (#5.5.4)")
			return true
		}
	}
	if len(login) == 0 || len(login) > maxCredential || len(password) > maxCredential ||
		strings.ContainsAny(login, "\x00\r\n") || strings.ContainsRune(password, 0) {
		fail(login, "malformed login or password")
		ss.reply("535 authentication failed (#5.7.8)")
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	good, err := ss.srv.Auth.Authenticate(ctx, login, password, ss.p.remoteIP)
	cancel()
	password = ""
	switch {
	case err != nil:
		ss.srv.Log.Warning("smtp %d: unable to check the login %q from %v: %v", ss.p.session, login, ss.p.remoteIP, err)
		ss.reply("454 temporary authentication failure (#4.7.0)")
	case !good:
		fail(login, "wrong password or unknown login")
		ss.reply("535 authentication failed (#5.7.8)")
	default:
		ss.login = login
		ss.srv.Log.Info("smtp %d: authenticated %q from %v", ss.p.session, login, ss.p.remoteIP)
		ss.reply("235 ok, go ahead (#2.0.0)")
	}
	return true
}

// authFailed logs and delays a failed login, the n-th from its address in
// the window: the delay slows a guesser down, and the count stops one
// address guessing for long.
func (ss *session) authFailed(login, why string, n int) {
	ac := ss.srv.authConfig()
	ss.srv.Log.Warning("smtp %d: AUTH failed for %q from %v: %s (%d of %d allowed in %v)",
		ss.p.session, login, ss.p.remoteIP, why, n, ac.MaxFailures, ac.FailureWindow)
	d := ss.srv.AuthFailureDelay
	if d == 0 {
		d = authFailureDelay
	}
	// The replies wait too: a pipelining client learns nothing sooner.
	if remaining := time.Until(ss.c.end); remaining < d {
		d = max(remaining, 0)
	}
	time.Sleep(d)
}

// loginServer is the server side of the LOGIN mechanism (a draft that
// never became an RFC, which Outlook and many devices still use): the
// username, then the password, each asked for in base64. go-sasl offers
// only its client side.
type loginServer struct {
	step     int
	username string
	done     func(username, password string)
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		l.done(l.username, string(bytes.Clone(response)))
		return nil, true, nil
	}
	return nil, false, errors.New("unexpected response")
}
