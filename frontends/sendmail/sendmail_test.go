package sendmail

import (
	"strings"
	"testing"
)

func TestSendmailOptionsMapOntoQmailInject(t *testing.T) {
	cases := []struct {
		args   string
		mode   byte
		rcpt   byte
		sender string
		vars   map[string]string
		rest   string
	}{
		{"joe", 'm', 'a', "", nil, "joe"},
		{"-t", 'm', 'H', "", nil, ""},
		{"-t -i", 'm', 'H', "", nil, ""},
		{"-ti -oi -oem -odb joe", 'm', 'H', "", nil, "joe"},
		{"-v -m -x -e x -p y -B 8BITMIME -E -Jxyz joe", 'm', 'a', "", nil, "joe"},
		{"-U -t joe", 'm', 'H', "", nil, "joe"},
		{"-f sender@example.org joe", 'm', 'a', "sender@example.org", map[string]string{"QMAILUSER": "sender", "QMAILHOST": "example.org", "MAILNAME": "", "NAME": "", "QMAILNAME": "", "MAILHOST": ""}, "joe"},
		{"-fbare -FName joe", 'm', 'a', "bare", map[string]string{"QMAILUSER": "bare", "MAILNAME": ""}, "joe"},
		{"-F Real Name", 'm', 'a', "", map[string]string{"MAILNAME": "Real"}, "Name"},
		{"-bm joe", 'm', 'a', "", nil, "joe"},
		{"-bp", 'p', 'a', "", nil, ""},
		{"-bs", 's', 'a', "", nil, ""},
		{"-- -notanoption", 'm', 'a', "", nil, "-notanoption"},
	}
	for _, tc := range cases {
		opts, mode, vars, err := parseSendmailArgs(strings.Fields(tc.args))
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if mode != tc.mode || opts.rcptMode != tc.rcpt || opts.sender != tc.sender || strings.Join(opts.args, " ") != tc.rest {
			t.Errorf("%q: mode %c rcpt %c sender %q args %q", tc.args, mode, opts.rcptMode, opts.sender, opts.args)
		}
		for k, v := range tc.vars {
			if got, ok := vars[k]; !ok || got != v {
				t.Errorf("%q: %s = %q (set %v), want %q", tc.args, k, got, ok, v)
			}
		}
	}
	for _, bad := range []string{"-q", "-bd", "-bi", "-Z", "-f"} {
		if _, _, _, err := parseSendmailArgs(strings.Fields(bad)); err == nil || !strings.Contains(err.Error(), "usage: sendmail") {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

func TestSendmailRefusesUnknownOptionsWithExit100(t *testing.T) {
	env, _, errOut := testEnv(t, sws5, nil, "", "sendmail", "-q")
	if code := Sendmail(env); code != 100 || !strings.Contains(errOut.String(), "usage: sendmail") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}
