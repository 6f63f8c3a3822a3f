package mailbox

import (
	"strings"
	"testing"
	"time"
)

func TestDTLine(t *testing.T) {
	tests := []struct{ name, recipient, want string }{
		{"plain address", "joe@example.com", "Delivered-To: joe@example.com\n"},
		{"extension address", "joe-list@example.com", "Delivered-To: joe-list@example.com\n"},
		{"newlines become underscores", "jo\ne@exa\nmple.com", "Delivered-To: jo_e@exa_mple.com\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DTLine(tt.recipient); got != tt.want {
				t.Errorf("DTLine(%q) = %q, want %q", tt.recipient, got, tt.want)
			}
		})
	}
}

func TestRPLine(t *testing.T) {
	tests := []struct{ name, sender, want string }{
		{"null sender is empty brackets", "", "Return-Path: <>\n"},
		{"plain address is not quoted", "joe@example.com", "Return-Path: <joe@example.com>\n"},
		{"double bounce sender is not quoted", "#@[]", "Return-Path: <#@[]>\n"},
		{"all atom specials are not quoted", "a!#$%&'*+-/=?^_`{|}~.b@x", "Return-Path: <a!#$%&'*+-/=?^_`{|}~.b@x>\n"},
		{"address without domain", "joe", "Return-Path: <joe>\n"},
		{"empty local part is quoted", "@example.com", "Return-Path: <\"\"@example.com>\n"},
		{"space is quoted", "joe smith@example.com", "Return-Path: <\"joe smith\"@example.com>\n"},
		{"leading dot is quoted", ".joe@x", "Return-Path: <\".joe\"@x>\n"},
		{"trailing dot is quoted", "joe.@x", "Return-Path: <\"joe.\"@x>\n"},
		{"doubled dot is quoted", "jo..e@x", "Return-Path: <\"jo..e\"@x>\n"},
		{"eight-bit byte is quoted", "j\xf6e@x", "Return-Path: <\"j\xf6e\"@x>\n"},
		{"quote and backslash are escaped", "a\"b\\c@x", "Return-Path: <\"a\\\"b\\\\c\"@x>\n"},
		{"CR is escaped", "a\rb@x", "Return-Path: <\"a\\\rb\"@x>\n"},
		{"LF is escaped then becomes underscore", "a\nb@x", "Return-Path: <\"a\\_b\"@x>\n"},
		{"newline in domain becomes underscore", "a@x\ny", "Return-Path: <a@x_y>\n"},
		{"only the last at sign splits", "a@b@x", "Return-Path: <\"a@b\"@x>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RPLine(tt.sender); got != tt.want {
				t.Errorf("RPLine(%q) = %q, want %q", tt.sender, got, tt.want)
			}
		})
	}
}

func TestUFLine(t *testing.T) {
	jan3 := time.Date(1996, time.January, 3, 1, 5, 34, 0, time.UTC)
	tests := []struct {
		name, sender string
		t            time.Time
		want         string
	}{
		{"day is zero-padded", "joe@x", jan3, "From joe@x Wed Jan 03 01:05:34 1996\n"},
		{"null sender is MAILER-DAEMON", "", jan3, "From MAILER-DAEMON Wed Jan 03 01:05:34 1996\n"},
		{"space tab and newline become dashes", "a b\tc\nd@x", jan3, "From a-b-c-d@x Wed Jan 03 01:05:34 1996\n"},
		{"time is shown in UTC", "joe@x",
			time.Date(2024, time.December, 31, 23, 30, 0, 0, time.FixedZone("minus", -2*3600)),
			"From joe@x Wed Jan 01 01:30:00 2025\n"},
		{"eight-bit sender is copied byte for byte", "j\xf6 e@x", jan3, "From j\xf6-e@x Wed Jan 03 01:05:34 1996\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UFLine(tt.sender, tt.t); got != tt.want {
				t.Errorf("UFLine(%q) = %q, want %q", tt.sender, got, tt.want)
			}
		})
	}
}

// FuzzHeaderLinesAreOneLine guards against header injection: whatever the
// envelope holds, each added line is exactly one line.
func FuzzHeaderLinesAreOneLine(f *testing.F) {
	f.Add("joe@example.com")
	f.Add("a\nb@x\ny")
	f.Add("\"\\\r\n@")
	f.Fuzz(func(t *testing.T, addr string) {
		for _, line := range []string{DTLine(addr), RPLine(addr), UFLine(addr, time.Unix(0, 0))} {
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Errorf("%q is not one line", line)
			}
		}
	})
}
