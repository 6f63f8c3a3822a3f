// Package qlog writes the daemon's log: one line per event, in qmail-send's
// vocabulary (new msg, info msg, starting delivery, delivery N:
// success/deferral/failure, end msg, status, warning:, alert:), so that
// tools written for qmail's logs keep working.
//
// In the plain format each line is a UTC timestamp and the qmail text,
// with qmail's escaping of report texts (newline → "/", bytes below 33 or
// above 126 → "_"). The json format writes the same events as one JSON
// object per line with the fields separate.
//
// It also owns how text from outside is made harmless where people read
// it: Safe for a field of a log line, Readable for a remote report shown
// on a terminal by the queue listings.
package qlog

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Logger writes events. It is safe for concurrent use.
type Logger struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	now  func() time.Time
}

// New returns a Logger writing to w in format "plain" or "json".
func New(w io.Writer, format string) *Logger {
	return &Logger{w: w, json: format == "json", now: time.Now}
}

// field is one named value of an event, kept in order for JSON.
type field struct {
	k string
	v any
}

func (l *Logger) emit(text string, fields ...field) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.now().UTC()
	if !l.json {
		// One event, one line: text from outside (a peer's words, a
		// user's program) cannot start a line of its own.
		text = strings.NewReplacer("\n", "/", "\r", "_").Replace(text)
		fmt.Fprintf(l.w, "%s %s\n", ts.Format("2006-01-02T15:04:05.000000Z"), text)
		return
	}
	var b strings.Builder
	b.WriteString(`{"time":`)
	writeJSON(&b, ts.Format(time.RFC3339Nano))
	for _, f := range fields {
		b.WriteString(",")
		writeJSON(&b, f.k)
		b.WriteString(":")
		writeJSON(&b, f.v)
	}
	b.WriteString("}\n")
	io.WriteString(l.w, b.String())
}

func writeJSON(b *strings.Builder, v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		enc, _ = json.Marshal(fmt.Sprint(v))
	}
	b.Write(enc)
}

// Safe escapes a report text as qmail-send does for its log.
func Safe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			b.WriteByte('/')
		case c < 33 || c > 126:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// NewMsg logs that message id was queued.
func (l *Logger) NewMsg(id uint64) {
	l.emit(fmt.Sprintf("new msg %d", id), field{"event", "new msg"}, field{"msg", id})
}

// Queued logs a message a frontend queued, as qmail-send does when it
// first sees one: "new msg", then "info msg" with its size, sender, and
// the uid that queued it.
func (l *Logger) Queued(id uint64, bytes int64, from string, uid int) {
	l.NewMsg(id)
	l.emit(fmt.Sprintf("info msg %d: bytes %d from <%s> qp %d uid %d", id, bytes, Safe(from), id, uid),
		field{"event", "info msg"}, field{"msg", id}, field{"bytes", bytes}, field{"from", from}, field{"uid", uid})
}

// Starting logs the start of delivery n of message id to rcpt.
func (l *Logger) Starting(n uint64, id uint64, channel, rcpt string) {
	l.emit(fmt.Sprintf("starting delivery %d: msg %d to %s %s", n, id, channel, Safe(rcpt)),
		field{"event", "starting delivery"}, field{"delivery", n}, field{"msg", id}, field{"channel", channel}, field{"rcpt", rcpt})
}

// Delivery logs the result of delivery n: kind is "success", "deferral" or
// "failure".
func (l *Logger) Delivery(n uint64, kind, report string) {
	l.emit(fmt.Sprintf("delivery %d: %s: %s", n, kind, Safe(report)),
		field{"event", "delivery"}, field{"delivery", n}, field{"result", kind}, field{"report", report})
}

// EndMsg logs that message id left the queue.
func (l *Logger) EndMsg(id uint64) {
	l.emit(fmt.Sprintf("end msg %d", id), field{"event", "end msg"}, field{"msg", id})
}

// BounceMsg logs that message id's bounce was queued as message bounce.
func (l *Logger) BounceMsg(id, bounce uint64) {
	l.emit(fmt.Sprintf("bounce msg %d qp %d", id, bounce), field{"event", "bounce msg"}, field{"msg", id}, field{"bounce", bounce})
}

// Status logs the number of deliveries under way per channel.
func (l *Logger) Status(local, localMax, remote, remoteMax int, exiting bool) {
	text := fmt.Sprintf("status: local %d/%d remote %d/%d", local, localMax, remote, remoteMax)
	if exiting {
		text += " exitasap"
	}
	l.emit(text, field{"event", "status"}, field{"local", local}, field{"local_max", localMax},
		field{"remote", remote}, field{"remote_max", remoteMax}, field{"exiting", exiting})
}

// Info logs a plain line, such as "status: exiting" or a listener address.
func (l *Logger) Info(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	l.emit(text, field{"event", "info"}, field{"text", text})
}

// Warning logs "warning: " and the text.
func (l *Logger) Warning(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	l.emit("warning: "+text, field{"event", "warning"}, field{"text", text})
}

// Alert logs "alert: " and the text: something that needs an
// administrator.
func (l *Logger) Alert(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	l.emit("alert: "+text, field{"event", "alert"}, field{"text", text})
}

// SMTPStart logs the start of SMTP session n from client on a listener
// (its address and role).
func (l *Logger) SMTPStart(n uint64, client, listener, role string) {
	l.emit(fmt.Sprintf("smtp %d: start %s on %s (%s)", n, client, Safe(listener), role),
		field{"event", "smtp start"}, field{"session", n}, field{"client", client}, field{"listener", listener}, field{"role", role})
}

// SMTPRefusal logs a refusal in session n: the command it answered (its
// verb) and the reply.
func (l *Logger) SMTPRefusal(n uint64, client, command, reply string) {
	code, reason, _ := strings.Cut(reply, " ")
	l.emit(fmt.Sprintf("smtp %d: refused %s from %s: %s", n, Safe(command), client, printable(reply)),
		field{"event", "smtp refusal"}, field{"session", n}, field{"client", client}, field{"command", command},
		field{"code", code}, field{"reason", reason})
}

// SMTPSession is what the end of an SMTP session reports.
type SMTPSession struct {
	Client   string
	HELO     string
	TLS      string // version and cipher; empty without TLS
	Login    string // the authenticated login; empty without AUTH
	Messages int    // messages accepted
	Refusals int    // replies 4xx and 5xx
	Duration time.Duration
}

// SMTPEnd logs the end of SMTP session n.
func (l *Logger) SMTPEnd(n uint64, s SMTPSession) {
	tls, login := s.TLS, s.Login
	if tls == "" {
		tls = "none"
	}
	if login == "" {
		login = "none"
	}
	dur := s.Duration.Round(time.Millisecond)
	l.emit(fmt.Sprintf("smtp %d: end %s helo %s tls %s auth %s messages %d refusals %d duration %v",
		n, s.Client, Safe(orDash(s.HELO)), Safe(tls), Safe(login), s.Messages, s.Refusals, dur),
		field{"event", "smtp end"}, field{"session", n}, field{"client", s.Client}, field{"helo", s.HELO},
		field{"tls", s.TLS}, field{"login", s.Login}, field{"messages", s.Messages}, field{"refusals", s.Refusals},
		field{"duration_ms", dur.Milliseconds()})
}

// printable replaces the bytes of s that are not printable ASCII, keeping
// the spaces, for texts of our own that may hold a peer's words.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
