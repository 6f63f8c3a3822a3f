package remotedeliver

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// twoMX is a zone where one.example has one mail exchanger, 127.0.0.2,
// and two.example has 127.0.0.2 at preference 10 and 127.0.0.3 at 20.
const twoMX = `
one.example. MX 10 mx1.example.
two.example. MX 10 mx1.example.
two.example. MX 20 mx2.example.
mx1.example. A 127.0.0.2
mx2.example. A 127.0.0.3
`

func TestSMTPReplies(t *testing.T) {
	dns := startDNS(t, twoMX)
	rcpt450 := failing("RCPT", 450, gosmtp.EnhancedCode{4, 2, 0}, "mailbox busy")
	mail451 := failing("MAIL", 451, gosmtp.EnhancedCode{4, 3, 0}, "try later")
	data452 := failing("DATA", 452, gosmtp.EnhancedCode{4, 3, 1}, "disk full")
	rcpt550 := failing("RCPT", 550, gosmtp.EnhancedCode{5, 1, 1}, "no such user")
	mail553 := failing("MAIL", 553, gosmtp.EnhancedCode{5, 7, 1}, "sender refused")
	data554 := failing("DATA", 554, gosmtp.EnhancedCode{5, 6, 0}, "content refused")

	cases := []struct {
		name       string
		rcpt       string
		first      []peerOption // 127.0.0.2
		second     []peerOption // 127.0.0.3
		dead       []bool       // nothing listens at 127.0.0.2, 127.0.0.3
		by         string       // the address that accepts it, or ""
		want       failure
		secondUsed bool
	}{
		{name: "4xx at RCPT from the only host is temporary", rcpt: "joe@one.example", first: []peerOption{rcpt450},
			want: failure{text: "127.0.0.2 does not like recipient.\nRemote host said: 450 4.2.0 mailbox busy"}},
		{name: "4xx at MAIL leaves the message to the next MX", rcpt: "joe@two.example", first: []peerOption{mail451},
			by: "127.0.0.3", secondUsed: true},
		{name: "4xx at RCPT leaves the message to the next MX", rcpt: "joe@two.example", first: []peerOption{rcpt450},
			by: "127.0.0.3", secondUsed: true},
		{name: "4xx after the message leaves it to the next MX", rcpt: "joe@two.example", first: []peerOption{data452},
			by: "127.0.0.3", secondUsed: true},
		{name: "when every host answers 4xx the report is the last host's", rcpt: "joe@two.example",
			first: []peerOption{rcpt450}, second: []peerOption{mail451}, secondUsed: true,
			want: failure{text: "Connected to 127.0.0.3 but sender was rejected.\nRemote host said: 451 4.3.0 try later"}},
		{name: "a 4xx report is kept when the next MX is dead", rcpt: "joe@two.example",
			first: []peerOption{rcpt450}, dead: []bool{false, true},
			want: failure{text: "127.0.0.2 does not like recipient.\nRemote host said: 450 4.2.0 mailbox busy"}},
		{name: "5xx at RCPT is permanent and the next MX is not tried", rcpt: "joe@two.example", first: []peerOption{rcpt550},
			want: failure{permanent: true, text: "127.0.0.2 does not like recipient.\nRemote host said: 550 5.1.1 no such user\nGiving up on 127.0.0.2."}},
		{name: "5xx at MAIL is permanent and the next MX is not tried", rcpt: "joe@two.example", first: []peerOption{mail553},
			want: failure{permanent: true, text: "Connected to 127.0.0.2 but sender was rejected.\nRemote host said: 553 5.7.1 sender refused"}},
		{name: "5xx after the message is permanent and the next MX is not tried", rcpt: "joe@two.example", first: []peerOption{data554},
			want: failure{permanent: true, text: "127.0.0.2 failed after I sent the message.\nRemote host said: 554 5.6.0 content refused"}},
		{name: "no host reachable is temporary", rcpt: "joe@two.example", dead: []bool{true, true},
			want: failure{text: "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, ls := listenSame(t, "127.0.0.2", "127.0.0.3")
			var peers [2]*peer
			for i, opts := range [][]peerOption{c.first, c.second} {
				if len(c.dead) > i && c.dead[i] {
					ls[i].Close()
					continue
				}
				peers[i] = startPeer(t, ls[i], opts...)
			}
			d := newDeliverer(t, dns, port, nil)

			report, oe := deliver(t, d, "sender@sender.test", c.rcpt, Bytes(body))
			if c.by != "" {
				wantAccepted(t, report, oe, c.by)
			} else {
				wantFailure(t, report, oe, c.want)
			}
			for _, p := range peers {
				if p == nil {
					continue
				}
				want := 0
				if p.ip == c.by {
					want = 1
				}
				if n := len(p.messages()); n != want {
					t.Errorf("%s received %d messages, want %d", p.ip, n, want)
				}
			}
			if second := peers[1]; second != nil && (second.connections() > 0) != c.secondUsed {
				t.Errorf("127.0.0.3 was connected to %d times; want it used: %v", second.connections(), c.secondUsed)
			}
		})
	}
}

// TestScriptedPeerFailures covers what go-smtp's server cannot be made
// to do: a bad greeting, a rejected EHLO, a connection lost.
func TestScriptedPeerFailures(t *testing.T) {
	dns := startDNS(t, twoMX)
	cases := []struct {
		name          string
		script        func(c net.Conn, r *bufio.Reader)
		timeoutRemote string
		by            string // the address that accepts it, or ""
		want          failure
	}{
		{
			name:   "a greeting other than 220 leaves the message to the next MX",
			script: func(c net.Conn, r *bufio.Reader) { io.WriteString(c, "554 go away\r\n"); r.ReadString('\n') },
			by:     "127.0.0.3",
		},
		{
			name: "a rejected EHLO leaves the message to the next MX",
			script: func(c net.Conn, r *bufio.Reader) {
				io.WriteString(c, "220 hi\r\n")
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					io.WriteString(c, "550 not you\r\n")
				}
			},
			by: "127.0.0.3",
		},
		{
			name:   "a connection lost at the DATA command leaves the message to the next MX",
			script: func(c net.Conn, r *bufio.Reader) { dialogue(c, r, "DATA") },
			by:     "127.0.0.3",
		},
		{
			name: "a connection lost after the final dot is a possible duplicate and the next MX is not tried",
			script: func(c net.Conn, r *bufio.Reader) {
				dialogue(c, r, ".")
				// Closing now, with the final dot read: the message may
				// count as delivered here.
			},
			want: failure{text: "Connected to 127.0.0.2 but connection died. Possible duplicate! (#4.4.2)"},
		},
		{
			name:          "a host that never greets is left after timeoutremote",
			script:        func(c net.Conn, r *bufio.Reader) { io.Copy(io.Discard, r) },
			timeoutRemote: "1",
			by:            "127.0.0.3",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, ls := listenSame(t, "127.0.0.2", "127.0.0.3")
			first := startScripted(t, ls[0], c.script)
			second := startPeer(t, ls[1])
			files := map[string]string{}
			if c.timeoutRemote != "" {
				files["timeoutremote"] = c.timeoutRemote
			}
			d := newDeliverer(t, dns, port, files)

			report, oe := deliver(t, d, "sender@sender.test", "joe@two.example", Bytes(body))
			if first.connections() != 1 {
				t.Errorf("127.0.0.2 was connected to %d times, want once", first.connections())
			}
			if c.by == "" {
				wantFailure(t, report, oe, c.want)
				if n := second.connections(); n != 0 {
					t.Errorf("127.0.0.3 was connected to %d times, want never", n)
				}
				return
			}
			wantAccepted(t, report, oe, c.by)
			if n := len(second.messages()); n != 1 {
				t.Errorf("127.0.0.3 received %d messages, want 1", n)
			}
		})
	}
}

func TestMessageGoesOutWithCRLFAndDotsIntact(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{"LF line ends become CRLF",
			"Subject: lf\n\nline one\nline two\n",
			"Subject: lf\r\n\r\nline one\r\nline two\r\n"},
		{"lines starting with a dot arrive with the dot",
			"Subject: dots\n\n.leading dot\n..two dots\n.\nafter a lone dot\n",
			"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n"},
		{"CRLF line ends stay CRLF",
			"Subject: crlf\r\n\r\n.dot\r\nend\r\n",
			"Subject: crlf\r\n\r\n.dot\r\nend\r\n"},
	}
	dns := startDNS(t, twoMX)
	port, ls := listenSame(t, "127.0.0.2")
	p := startPeer(t, ls[0])
	d := newDeliverer(t, dns, port, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(p.messages())
			report, oe := deliver(t, d, "sender@sender.test", "joe@one.example", []byte(c.body))
			wantAccepted(t, report, oe, "127.0.0.2")
			msgs := p.messages()
			if len(msgs) != n+1 {
				t.Fatalf("peer has %d messages, want %d", len(msgs), n+1)
			}
			if got := string(msgs[n].data); got != c.want {
				t.Errorf("peer received %q, want %q", got, c.want)
			}
		})
	}
}

func TestEnvelopeAddresses(t *testing.T) {
	cases := []struct {
		name       string
		sender     string
		rcpt       string
		wantLines  []string // in the transcript
		wantSender string   // as go-smtp's server parsed it
	}{
		{
			name: "addresses needing quotes are sent quoted", sender: "a b@example.org", rcpt: "c d@one.example",
			wantLines:  []string{`MAIL FROM:<"a b"@example.org>`, `RCPT TO:<"c d"@one.example>`},
			wantSender: "a b@example.org",
		},
		{
			name: "quotes and backslashes in a local part are escaped", sender: `q"uote@example.org`, rcpt: `back\slash@one.example`,
			wantLines:  []string{`MAIL FROM:<"q\"uote"@example.org>`, `RCPT TO:<"back\\slash"@one.example>`},
			wantSender: `q"uote@example.org`,
		},
		{
			name: "the null sender is sent as <>", sender: "", rcpt: "joe@one.example",
			wantLines:  []string{"MAIL FROM:<>", "RCPT TO:<joe@one.example>"},
			wantSender: "",
		},
		{
			name: "8BITMIME is declared when the host offers it", sender: "joe@example.org", rcpt: "joe@one.example",
			wantLines:  []string{"MAIL FROM:<joe@example.org> BODY=8BITMIME\r\n"},
			wantSender: "joe@example.org",
		},
	}
	dns := startDNS(t, twoMX)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, ls := listenSame(t, "127.0.0.2")
			p := startPeer(t, ls[0])
			d := newDeliverer(t, dns, port, nil)

			report, oe := deliver(t, d, c.sender, c.rcpt, Bytes(body))
			wantAccepted(t, report, oe, "127.0.0.2")
			transcript := p.transcript()
			for _, line := range c.wantLines {
				if !strings.Contains(transcript, line) {
					t.Errorf("transcript lacks %q:\n%s", line, transcript)
				}
			}
			msgs := p.messages()
			if len(msgs) != 1 {
				t.Fatalf("peer received %d messages, want 1", len(msgs))
			}
			wantRcpt := strings.NewReplacer(`\\`, `\`).Replace(c.rcpt)
			if msgs[0].from != c.wantSender || len(msgs[0].to) != 1 || msgs[0].to[0] != wantRcpt {
				t.Errorf("peer got MAIL %q RCPT %q, want %q and %q", msgs[0].from, msgs[0].to, c.wantSender, wantRcpt)
			}
		})
	}
}

func TestHeloName(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string // the EHLO name, or "" when nothing may be sent
	}{
		{"EHLO uses control/helohost", map[string]string{"helohost": "helo.example", "me": "me.example"}, "helo.example"},
		{"EHLO uses control/me without helohost", map[string]string{"helohost": absent, "me": "me.example"}, "me.example"},
		{"without helohost and me nothing is sent", map[string]string{"helohost": absent, "me": absent}, ""},
	}
	dns := startDNS(t, twoMX)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, ls := listenSame(t, "127.0.0.2")
			p := startPeer(t, ls[0])
			d := newDeliverer(t, dns, port, c.files)

			report, oe := deliver(t, d, "sender@sender.test", "joe@one.example", Bytes(body))
			if c.want == "" {
				wantFailure(t, report, oe, failure{text: "Unable to read control files. (#4.3.0)"})
				if n := p.connections(); n != 0 {
					t.Errorf("peer was connected to %d times, want never", n)
				}
				return
			}
			wantAccepted(t, report, oe, "127.0.0.2")
			if msgs := p.messages(); len(msgs) != 1 || msgs[0].helo != c.want {
				t.Errorf("peer received %+v, want one message after EHLO %s", msgs, c.want)
			}
		})
	}
}

func TestContextCancellation(t *testing.T) {
	dns := startDNS(t, twoMX)

	t.Run("a host that never greets is left as soon as the context ends", func(t *testing.T) {
		port, ls := listenSame(t, "127.0.0.2")
		startScripted(t, ls[0], func(c net.Conn, r *bufio.Reader) { io.Copy(io.Discard, r) })
		d := newDeliverer(t, dns, port, map[string]string{"timeoutremote": "60", "timeoutconnect": "60"})

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		report, oe := result(t, "joe@one.example")(d.Deliver(ctx, "sender@sender.test", "joe@one.example", Bytes(body)))
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Deliver took %v after the context ended", took)
		}
		wantFailure(t, report, oe, failure{contains: []string{"127.0.0.2"}})
	})

	cancelled := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	t.Run("an ended context before the connection gives a temporary outcome", func(t *testing.T) {
		port, ls := listenSame(t, "127.0.0.2")
		p := startPeer(t, ls[0])
		d := newDeliverer(t, dns, port, nil)
		report, oe := result(t, "joe@[127.0.0.2]")(d.Deliver(cancelled(), "sender@sender.test", "joe@[127.0.0.2]", Bytes(body)))
		wantFailure(t, report, oe, failure{text: "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)"})
		if n := len(p.messages()); n != 0 {
			t.Errorf("peer received %d messages", n)
		}
	})
	t.Run("an ended context before DNS gives a temporary outcome", func(t *testing.T) {
		d := newDeliverer(t, dns, 25, nil)
		report, oe := result(t, "joe@one.example")(d.Deliver(cancelled(), "sender@sender.test", "joe@one.example", Bytes(body)))
		wantFailure(t, report, oe, failure{text: "Sorry, I couldn't find any host by that name. (#4.1.2)"})
	})
}
