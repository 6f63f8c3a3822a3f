package qlog

import "testing"

func TestReadableShowsRemoteTextOnOneHarmlessLine(t *testing.T) {
	for in, want := range map[string]string{
		"Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n": "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)",
		"127.0.0.1 said: 451 try\r\nlater\n":                               "127.0.0.1 said: 451 try / later",
		"evil \x1b[2J\x07 text \xff":                                       "evil ?[2J? text ?",
		"":                                                                 "",
	} {
		if got := Readable(in); got != want {
			t.Errorf("Readable(%q) = %q, want %q", in, got, want)
		}
	}
}
