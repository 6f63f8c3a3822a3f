package qlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func fixed(format string) (*Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	l := New(&buf, format)
	l.now = func() time.Time { return time.Date(2026, 11, 25, 3, 4, 5, 6000, time.UTC) }
	return l, &buf
}

func TestPlainLinesUseQmailVocabulary(t *testing.T) {
	l, buf := fixed("plain")
	l.Queued(12, 345, "a@b", 1000)
	l.Starting(1, 12, "local", "joe@localhost")
	l.Delivery(1, "success", "did 0+0+1\n")
	l.Delivery(2, "deferral", "Unable to chdir to maildir. (#4.2.1)\n")
	l.EndMsg(12)
	l.Status(1, 10, 0, 20, false)
	want := strings.Join([]string{
		"2026-11-25T03:04:05.000006Z new msg 12",
		"2026-11-25T03:04:05.000006Z info msg 12: bytes 345 from <a@b> qp 12 uid 1000",
		"2026-11-25T03:04:05.000006Z starting delivery 1: msg 12 to local joe@localhost",
		"2026-11-25T03:04:05.000006Z delivery 1: success: did_0+0+1/",
		"2026-11-25T03:04:05.000006Z delivery 2: deferral: Unable_to_chdir_to_maildir._(#4.2.1)/",
		"2026-11-25T03:04:05.000006Z end msg 12",
		"2026-11-25T03:04:05.000006Z status: local 1/10 remote 0/20",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", buf, want)
	}
}

func TestJSONLinesAreObjects(t *testing.T) {
	l, buf := fixed("json")
	l.Delivery(3, "failure", "Sorry, no mailbox here by that name. (#5.1.1)\n")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", buf, err)
	}
	if got["event"] != "delivery" || got["result"] != "failure" || got["delivery"] != float64(3) {
		t.Fatalf("decoded %v", got)
	}
}

func TestSMTPSessionLines(t *testing.T) {
	end := SMTPSession{Client: "192.0.2.1", HELO: "laptop", TLS: "TLSv1.3 TLS_AES_128_GCM_SHA256", Login: "alice",
		Messages: 2, Refusals: 1, Duration: 1204 * time.Millisecond}
	l, buf := fixed("plain")
	l.SMTPStart(7, "192.0.2.1", "0.0.0.0:587", "submission")
	l.SMTPRefusal(7, "192.0.2.1", "MAIL", "553 sorry, you are not allowed to send as <bob@example.org> (#5.7.1)\x1b")
	l.SMTPEnd(7, end)
	want := strings.Join([]string{
		"2026-11-25T03:04:05.000006Z smtp 7: start 192.0.2.1 on 0.0.0.0:587 (submission)",
		"2026-11-25T03:04:05.000006Z smtp 7: refused MAIL from 192.0.2.1: 553 sorry, you are not allowed to send as <bob@example.org> (#5.7.1)?",
		"2026-11-25T03:04:05.000006Z smtp 7: end 192.0.2.1 helo laptop tls TLSv1.3_TLS_AES_128_GCM_SHA256 auth alice messages 2 refusals 1 duration 1.204s",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", buf, want)
	}

	l, buf = fixed("json")
	l.SMTPRefusal(7, "192.0.2.1", "RCPT", "550 sorry, no mailbox here by that name (#5.1.1)")
	l.SMTPEnd(7, end)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var refusal, ended map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &refusal); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &ended); err != nil {
		t.Fatal(err)
	}
	if refusal["event"] != "smtp refusal" || refusal["command"] != "RCPT" || refusal["code"] != "550" ||
		refusal["reason"] != "sorry, no mailbox here by that name (#5.1.1)" || refusal["session"] != float64(7) {
		t.Errorf("refusal %v", refusal)
	}
	if ended["event"] != "smtp end" || ended["tls"] != end.TLS || ended["login"] != "alice" || ended["messages"] != float64(2) ||
		ended["duration_ms"] != float64(1204) || ended["helo"] != "laptop" {
		t.Errorf("end %v", ended)
	}
}
