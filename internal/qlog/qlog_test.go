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
