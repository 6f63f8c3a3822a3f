package sendmail

import (
	"strings"
	"testing"
)

func TestReadEnvelope(t *testing.T) {
	long := strings.Repeat("x", 1002)
	cases := []struct {
		name, env string
		sender    string
		rcpts     []string
		code      int
	}{
		{"two recipients", "Fs@example.org\x00Ta@x\x00Tb@y\x00\x00", "s@example.org", []string{"a@x", "b@y"}, 0},
		{"the null sender", "F\x00Ta@x\x00\x00", "", []string{"a@x"}, 0},
		{"no recipients", "Fs@x\x00\x00", "s@x", nil, 0},
		{"truncated before the end", "Fs@x\x00Ta@x\x00", "", nil, QueueReadError},
		{"truncated inside an address", "Fs@x\x00Ta@", "", nil, QueueReadError},
		{"empty", "", "", nil, QueueReadError},
		{"bad first byte", "Xs@x\x00Ta@x\x00\x00", "", nil, QueueBadEnvelope},
		{"bad later byte", "Fs@x\x00Ra@x\x00\x00", "", nil, QueueBadEnvelope},
		{"an address of 1002 bytes", "F\x00T" + long + "\x00\x00", "", []string{long}, 0},
		{"an address of 1003 bytes", "F\x00T" + long + "x\x00\x00", "", nil, QueueAddrTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sender, rcpts, err := readEnvelope(strings.NewReader(tc.env))
			if code := exitCode(err, -1); err != nil && code != tc.code || err == nil && tc.code != 0 {
				t.Fatalf("err %v (code %d), want code %d", err, exitCode(err, -1), tc.code)
			}
			if err == nil && (sender != tc.sender || strings.Join(rcpts, ",") != strings.Join(tc.rcpts, ",")) {
				t.Fatalf("got %q %q", sender, rcpts)
			}
		})
	}
}
