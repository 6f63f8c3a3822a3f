package tests

import (
	"fmt"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// TestRemoteDeliveryToRealPeers resolves through a DNS server on loopback
// and delivers to Postfix's smtp-sink and to a second gqmail, checking
// what each received, and follows failures to their bounces.
func TestRemoteDeliveryToRealPeers(t *testing.T) {
	port := freePort(t)
	at := func(ip string) string { return fmt.Sprintf("%s:%d", ip, port) }
	sink := startSink(t, at("127.0.0.2"))
	startSink(t, at("127.0.0.4"), "-f", "RCPT") // refuses every recipient with 5xx

	peerRoot, peerAddr, peerAcct := setupRootOn(t, at("127.0.0.3"), "", map[string]string{
		"me":        "peer.example\n",
		"locals":    "peer.example\npref.example\ndead.example\n",
		"rcpthosts": "peer.example\npref.example\ndead.example\n",
	})
	startDaemon(t, peerRoot, peerAddr, peerAcct)

	dns := startDNS(t, `
pref.example. MX 10 mx1.pref.example.
pref.example. MX 20 mx2.pref.example.
mx1.pref.example. A 127.0.0.3
mx2.pref.example. A 127.0.0.2
a.example. A 127.0.0.2
dead.example. MX 10 mx1.dead.example.
dead.example. MX 20 mx2.dead.example.
mx1.dead.example. A 127.0.0.9
mx2.dead.example. A 127.0.0.3
reject.example. MX 10 mx.reject.example.
mx.reject.example. A 127.0.0.4
self.example. MX 10 gqsender.test.
gqsender.test. A 127.0.0.10
`)
	root, addr, acct := setupRoot(t, remoteToml(dns, port), map[string]string{
		"me":     "gqsender.test\n",
		"locals": "localhost\ngqsender.test\n",
	})
	d := startDaemon(t, root, addr, acct)

	send := func(from, to, token string) {
		t.Helper()
		sendMail(t, addr, from, to, "Subject: "+token+"\r\n\r\nbody of "+token+"\r\n")
	}
	send("tester@localhost", "u@pref.example", "token-pref")
	send("tester@localhost", "u@a.example", "token-a")
	send("tester@localhost", "u@dead.example", "token-dead")
	send("tester@localhost", "u@reject.example", "token-reject")
	send("tester@localhost", "u@self.example", "token-self")
	send("nobody@reject.example", "u@reject.example", "token-double")
	send("", "u@reject.example", "token-null")

	t.Run("the best MX gets it, and the log says what the host said", func(t *testing.T) {
		waitFor(t, "token-pref at the peer", 20*time.Second, func() bool { return len(maildirContaining(t, peerRoot, "token-pref")) == 1 })
		if got := d.waitResult(t, "u@pref.example"); !strings.HasPrefix(got, "success: 127.0.0.3_accepted_message./Remote_host_said:_250_ok_") {
			t.Errorf("log: %q", got)
		}
		if len(containing(sink.messages(t), "token-pref")) != 0 {
			t.Error("the second MX got it too")
		}
	})
	t.Run("without MX, the domain's A record", func(t *testing.T) {
		waitFor(t, "token-a at the sink", 20*time.Second, func() bool { return len(containing(sink.messages(t), "token-a")) == 1 })
		m := containing(sink.messages(t), "token-a")[0]
		if !strings.Contains(m, "X-Mail-Args: <tester@localhost>") || !strings.Contains(m, "X-Rcpt-Args: <u@a.example>") ||
			!strings.Contains(m, "X-Helo-Args: gqsender.test") {
			t.Errorf("the sink saw:\n%s", m)
		}
	})
	t.Run("a dead primary MX, a live secondary", func(t *testing.T) {
		waitFor(t, "token-dead at the peer", 30*time.Second, func() bool { return len(maildirContaining(t, peerRoot, "token-dead")) == 1 })
	})
	t.Run("a 5xx bounces to the sender in QSBMF with the message", func(t *testing.T) {
		if got := d.waitResult(t, "u@reject.example"); !strings.HasPrefix(got, "failure: 127.0.0.4_does_not_like_recipient./Remote_host_said:_5") {
			t.Errorf("log: %q", got)
		}
		var bounce []string
		waitFor(t, "the bounce", 20*time.Second, func() bool {
			bounce = maildirContaining(t, root, "Subject: failure notice")
			bounce = containing(bounce, "token-reject")
			return len(bounce) == 1
		})
		for _, want := range []string{
			"\nTo: tester@localhost\n",
			"Hi. This is the qmail-send program at gqsender.test.\n",
			"<u@reject.example>:\n127.0.0.4 does not like recipient.\nRemote host said: 5",
			"\nGiving up on 127.0.0.4.\n",
			"--- Below this line is a copy of the message.\n\nReturn-Path: <tester@localhost>\n",
			"Subject: token-reject\n\nbody of token-reject\n",
		} {
			if !strings.Contains(bounce[0], want) {
				t.Errorf("bounce lacks %q:\n%s", want, bounce[0])
			}
		}
	})
	t.Run("the best MX is this host", func(t *testing.T) {
		if got := d.waitResult(t, "u@self.example"); !strings.HasPrefix(got, "failure: Sorry._Although_I'm_listed_as_a_best-preference_MX_or_A_for_that_host,/it_isn't_in_my_control/locals_file,_so_I_don't_treat_it_as_local._(#5.4.6)") {
			t.Errorf("log: %q", got)
		}
	})
	t.Run("a bounce that bounces goes to the postmaster", func(t *testing.T) {
		var db []string
		waitFor(t, "the double bounce", 30*time.Second, func() bool {
			db = containing(maildirContaining(t, root, "but the bounce bounced!"), "token-double")
			return len(db) == 1
		})
		for _, want := range []string{"\nTo: postmaster@gqsender.test\n", "<nobody@reject.example>:\n", "--- Below this line is the original bounce.\n\nReturn-Path: <>\n"} {
			if !strings.Contains(db[0], want) {
				t.Errorf("double bounce lacks %q:\n%s", want, db[0])
			}
		}
	})
	t.Run("a null-sender message that fails is not bounced to the null sender", func(t *testing.T) {
		var db []string
		waitFor(t, "the postmaster's copy", 30*time.Second, func() bool {
			db = containing(maildirContaining(t, root, "but the bounce bounced!"), "token-null")
			return len(db) == 1
		})
		if !strings.Contains(db[0], "\nTo: postmaster@gqsender.test\n") {
			t.Errorf("null sender failure:\n%s", db[0])
		}
		for rcpt := range d.results() {
			if rcpt == "" || rcpt == "<>" {
				t.Errorf("something was delivered to the null sender")
			}
		}
	})
}

// control/smtproutes: a route per domain with its own port, and the
// default route for everything else.
func TestSMTPRoutes(t *testing.T) {
	port, port2 := freePort(t), freePort(t)
	def := startSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	routed := startSink(t, fmt.Sprintf("127.0.0.5:%d", port2))
	dns := startDNS(t, "unused.example. A 127.0.0.9\n")
	root, addr, acct := setupRoot(t, remoteToml(dns, port), map[string]string{
		"me":         "localhost\n",
		"smtproutes": fmt.Sprintf("routed.example:127.0.0.5:%d\n.sub.example:127.0.0.5:%d\n:127.0.0.2\n", port2, port2),
	})
	startDaemon(t, root, addr, acct)
	sendMail(t, addr, "tester@localhost", "u@routed.example", "Subject: token-routed\r\n\r\nx\r\n")
	sendMail(t, addr, "tester@localhost", "u@deep.sub.example", "Subject: token-suffix\r\n\r\nx\r\n")
	sendMail(t, addr, "tester@localhost", "u@anywhere.example", "Subject: token-default\r\n\r\nx\r\n")
	waitFor(t, "the routed message", 20*time.Second, func() bool { return len(containing(routed.messages(t), "token-routed")) == 1 })
	waitFor(t, "the .suffix route", 20*time.Second, func() bool { return len(containing(routed.messages(t), "token-suffix")) == 1 })
	waitFor(t, "the default route", 20*time.Second, func() bool { return len(containing(def.messages(t), "token-default")) == 1 })
	if dns.Queries() != 0 {
		t.Errorf("routed mail asked DNS %d questions", dns.Queries())
	}
}

// With [remote] group_recipients the recipients of a message at one
// domain share one transaction; without it each has its own, as in qmail.
func TestGroupRecipients(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		t.Run(fmt.Sprintf("group_recipients=%v", grouped), func(t *testing.T) {
			port := freePort(t)
			sink := startSink(t, fmt.Sprintf("127.0.0.2:%d", port))
			dns := startDNS(t, "far.example. A 127.0.0.2\n")
			root, addr, acct := setupRoot(t, fmt.Sprintf("[remote]\nport = %d\ngroup_recipients = %v\n[dns]\nservers = [%q]\n", port, grouped, dns.Addr), nil)
			startDaemon(t, root, addr, acct)
			if err := smtp.SendMail(addr, nil, "tester@localhost", []string{"a@far.example", "b@far.example", "c@far.example"},
				[]byte("Subject: token-group\r\n\r\nx\r\n")); err != nil {
				t.Fatal(err)
			}
			want := 3
			if grouped {
				want = 1
			}
			waitFor(t, "the transactions at the sink", 20*time.Second, func() bool {
				n := 0
				for _, m := range containing(sink.messages(t), "token-group") {
					n += strings.Count(m, "X-Rcpt-Args: ")
				}
				return n == 3
			})
			if got := len(containing(sink.messages(t), "token-group")); got != want {
				t.Fatalf("%d transactions for 3 recipients, want %d", got, want)
			}
		})
	}
}
