package sendmail

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/control"
)

// testEnv is a root with control files and an environment, running one
// command on stdin.
func testEnv(t *testing.T, controls map[string]string, vars map[string]string, stdin string, args ...string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "control"), 0o755)
	for name, text := range controls {
		os.WriteFile(filepath.Join(root, "control", name), []byte(text), 0o644)
	}
	var out, errOut bytes.Buffer
	return &Env{
		Args:   args,
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errOut,
		Root:   root,
		UID:    os.Getuid(),
	}, &out, &errOut
}

var sws5 = map[string]string{"me": "sws5.ctd.ornl.gov\n", "defaultdomain": "ctd.ornl.gov\n", "plusdomain": "ornl.gov\n"}

// inject runs qmail-inject -n and returns what it prints.
func injectPrint(t *testing.T, vars map[string]string, msg string, args ...string) (string, int, string) {
	t.Helper()
	env, out, errOut := testEnv(t, sws5, vars, msg, append([]string{"qmail-inject", "-n"}, args...)...)
	code := Inject(env)
	return out.String(), code, errOut.String()
}

var (
	dateRE = regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000$`)
	midRE  = regexp.MustCompile(`^<\d{14}\.` + strconv.Itoa(os.Getpid()) + `\.qmail@sws5\.ctd\.ornl\.gov>$`)
)

// headerOf splits printed output into its header fields, by name.
func headerOf(t *testing.T, out string) (map[string][]string, string) {
	t.Helper()
	head, body, _ := strings.Cut(out, "\n\n")
	fields := map[string][]string{}
	var last string
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			n := len(fields[last]) - 1
			fields[last][n] += "\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		last = strings.ToLower(name)
		fields[last] = append(fields[last], strings.TrimPrefix(value, " "))
	}
	return fields, body
}

func TestInjectAddsWhatIsMissing(t *testing.T) {
	out, code, errOut := injectPrint(t, map[string]string{"USER": "de5", "NAME": "D. E. Five"}, "To: joe@sws1\nSubject: hi\n\nbody\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, body := headerOf(t, out)
	if f["return-path"][0] != "<de5@sws5.ctd.ornl.gov>" {
		t.Errorf("Return-Path %q", f["return-path"])
	}
	if !dateRE.MatchString(f["date"][0]) {
		t.Errorf("Date %q", f["date"])
	}
	if !midRE.MatchString(f["message-id"][0]) {
		t.Errorf("Message-ID %q", f["message-id"])
	}
	if f["from"][0] != `"D. E. Five" <de5@sws5.ctd.ornl.gov>` {
		t.Errorf("From %q", f["from"])
	}
	if f["to"][0] != "joe@sws1.ctd.ornl.gov" || f["subject"][0] != "hi" || body != "body\n" {
		t.Errorf("To %q, Subject %q, body %q", f["to"], f["subject"], body)
	}
	if f["cc"] != nil {
		t.Errorf("Cc added though there is a To: %q", f["cc"])
	}
	// Added fields come first, in qmail's order.
	order := regexp.MustCompile(`(?s)^Return-Path: .*\nDate: .*\nMessage-ID: .*\nFrom: .*\nTo: `)
	if !order.MatchString(out) {
		t.Errorf("field order:\n%s", out)
	}
}

func TestInjectFromForms(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"LOGNAME": "lg"}, "lg@sws5.ctd.ornl.gov"},
		{map[string]string{}, "anonymous@sws5.ctd.ornl.gov"},
		{map[string]string{"USER": "u", "MAILUSER": "mu", "QMAILUSER": "qu"}, "qu@sws5.ctd.ornl.gov"},
		{map[string]string{"USER": "u", "MAILHOST": "arm3.esd+"}, "u@arm3.esd.ornl.gov"},
		{map[string]string{"USER": "u", "QMAILHOST": "h.example", "MAILHOST": "x"}, "u@h.example"},
		{map[string]string{"USER": "u", "MAILNAME": "Mail Name", "NAME": "N"}, `"Mail Name" <u@sws5.ctd.ornl.gov>`},
		{map[string]string{"USER": "u", "NAME": `Say "hi"`}, `"Say \"hi\"" <u@sws5.ctd.ornl.gov>`},
		{map[string]string{"USER": "u", "NAME": "Name", "QMAILINJECT": "c"}, "u@sws5.ctd.ornl.gov (Name)"},
		{map[string]string{"USER": "a b"}, `"a b"@sws5.ctd.ornl.gov`},
	}
	for _, tc := range cases {
		out, code, errOut := injectPrint(t, tc.vars, "To: x@y.example\n\n")
		f, _ := headerOf(t, out)
		if code != 0 || len(f["from"]) != 1 || f["from"][0] != tc.want {
			t.Errorf("%v: From %q (exit %d %s), want %q", tc.vars, f["from"], code, errOut, tc.want)
		}
	}
}

func TestInjectDropsAndKeeps(t *testing.T) {
	msg := "From: me@sws1\nTo: to@a.example\nBcc: hidden@sws1\nReturn-Path: <rp@c.example>\nContent-Length: 99\nMessage-ID: <kept@x>\nDate: 1 Jan 2000 00:00:00 -0000\nSubject: s\n\nbody\n"
	out, code, _ := injectPrint(t, nil, msg)
	f, _ := headerOf(t, out)
	if code != 0 || f["bcc"] != nil || f["content-length"] != nil || len(f["return-path"]) != 1 {
		t.Fatalf("exit %d, fields %v", code, f)
	}
	if f["return-path"][0] != "<rp@c.example>" {
		t.Errorf("the envelope sender is not the incoming Return-Path: %q", f["return-path"])
	}
	if f["message-id"][0] != "<kept@x>" || f["date"][0] != "1 Jan 2000 00:00:00 -0000" || f["from"][0] != "me@sws1.ctd.ornl.gov" {
		t.Errorf("fields that exist were replaced: %v", f)
	}
	// QMAILINJECT s ignores Return-Path; f and i delete From and
	// Message-ID, which are then made anew.
	out, _, _ = injectPrint(t, map[string]string{"QMAILINJECT": "sfi", "USER": "u"}, msg)
	f, _ = headerOf(t, out)
	if f["return-path"][0] != "<u@sws5.ctd.ornl.gov>" || f["from"][0] != "u@sws5.ctd.ornl.gov" || f["message-id"][0] == "<kept@x>" {
		t.Errorf("QMAILINJECT sfi: %v", f)
	}
}

func TestInjectCcWhenEveryRecipientWasBcc(t *testing.T) {
	out, _, _ := injectPrint(t, nil, "Bcc: a@x.example\nSubject: s\n\n")
	f, _ := headerOf(t, out)
	if len(f["cc"]) != 1 || f["cc"][0] != "recipient list not shown: ;" || f["bcc"] != nil {
		t.Fatalf("fields %v", f)
	}
}

func TestInjectResentSet(t *testing.T) {
	msg := "From: orig@a.example\nTo: orig-to@a.example\nDate: 1 Jan 2000 00:00:00 -0000\nResent-To: again@sws1\nResent-Bcc: secret@b.example\n\nbody\n"
	env, out, _ := testEnv(t, sws5, map[string]string{"USER": "fw"}, msg, "qmail-inject", "-n")
	if code := Inject(env); code != 0 {
		t.Fatalf("exit %d", code)
	}
	f, _ := headerOf(t, out.String())
	if f["resent-from"] == nil || f["resent-date"] == nil || f["resent-message-id"] == nil || f["resent-bcc"] != nil {
		t.Errorf("resent fields: %v", f)
	}
	if f["date"][0] != "1 Jan 2000 00:00:00 -0000" || f["cc"] != nil || len(f["message-id"]) != 0 {
		t.Errorf("a resent message got plain fields: %v", f)
	}
	// The recipients are the Resent- set's: checked through -n's
	// sibling, the queue, in the end-to-end tests; here the header.
	if f["resent-to"][0] != "again@sws1.ctd.ornl.gov" {
		t.Errorf("Resent-To %q", f["resent-to"])
	}
}

func TestInjectRecipients(t *testing.T) {
	msg := "To: h1@x.example\nCc: h2@x.example\nBcc: h3@x.example\nApparently-To: h4@x.example\n\n"
	inj := func(args ...string) ([]string, error) {
		env, _, _ := testEnv(t, sws5, nil, msg, args...)
		opts, err := parseInjectArgs(args[1:])
		if err != nil {
			return nil, err
		}
		in := &injector{env: env, opts: opts, q: address.Qualifier{DefaultHost: "sws5.ctd.ornl.gov", DefaultDomain: "ctd.ornl.gov", PlusDomain: "ornl.gov"}}
		in.ctl = control.Open(env.paths().Control, nil)
		fields, _, _ := readHeader(bufio.NewReader(strings.NewReader(msg)))
		_, hdr, _, err := in.rewrite(fields)
		if err != nil {
			return nil, err
		}
		return in.recipients(hdr)
	}
	header := "h1@x.example h2@x.example h3@x.example h4@x.example"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"qmail-inject"}, header},
		{[]string{"qmail-inject", "a1@sws1"}, "a1@sws1.ctd.ornl.gov"},
		{[]string{"qmail-inject", "-a", "a1"}, "a1@sws5.ctd.ornl.gov"},
		{[]string{"qmail-inject", "-h", "a1"}, header},
		{[]string{"qmail-inject", "-H", "a1"}, "a1@sws5.ctd.ornl.gov " + header},
	} {
		got, err := inj(tc.args...)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
	if _, err := inj("qmail-inject", "-a"); err == nil {
		t.Error("-a with no argument found recipients")
	}
}

func TestInjectEnvelopeSender(t *testing.T) {
	msg := "Return-Path: <rp@a.example>\nTo: x@y.example\n\n"
	for _, tc := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{nil, []string{"-f", "given@sws1"}, "<given@sws1.ctd.ornl.gov>"},
		{nil, []string{"-fgiven@z.example"}, "<given@z.example>"},
		{nil, nil, "<rp@a.example>"},
		{map[string]string{"QMAILINJECT": "s", "USER": "u", "QMAILSUSER": "su", "QMAILSHOST": "sh.example"}, nil, "<su@sh.example>"},
		// qmail's quote2 quotes the local part before the last "@".
		{map[string]string{"QMAILINJECT": "sr", "USER": "u"}, nil, `<"u-@sws5.ctd.ornl.gov-"@[]>`},
	} {
		out, code, errOut := injectPrint(t, tc.vars, msg, tc.args...)
		f, _ := headerOf(t, out)
		if code != 0 || f["return-path"][0] != tc.want {
			t.Errorf("%v %v: Return-Path %q (exit %d %s), want %q", tc.vars, tc.args, f["return-path"], code, errOut, tc.want)
		}
	}
	out, _, _ := injectPrint(t, map[string]string{"QMAILINJECT": "sm", "USER": "u"}, msg)
	if !regexp.MustCompile(`^Return-Path: <u-\d+\.\d+@sws5\.ctd\.ornl\.gov>`).MatchString(out) {
		t.Errorf("QMAILINJECT m: %q", out[:60])
	}
}

func TestInjectEnvOverridesControls(t *testing.T) {
	out, _, _ := injectPrint(t, map[string]string{"QMAILDEFAULTDOMAIN": "dd.example", "QMAILPLUSDOMAIN": "pd.example", "QMAILDEFAULTHOST": "dh"}, "To: a@b, c@d+, e\n\n")
	f, _ := headerOf(t, out)
	if f["to"][0] != "a@b.dd.example, c@d.pd.example, e@dh.dd.example" {
		t.Fatalf("To %q", f["to"])
	}
}

func TestInjectHeaderEndsAtABadLine(t *testing.T) {
	out, code, _ := injectPrint(t, nil, "To: a@x.example\nBad Field: y\nSubject: not a field now\n")
	_, body := headerOf(t, out)
	if code != 0 || body != "Bad Field: y\nSubject: not a field now\n" {
		t.Fatalf("exit %d, body %q", code, body)
	}
}

func TestInjectErrors(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		args []string
		code int
		want string
	}{
		{"Subject: none\n\n", nil, 100, "qmail-inject: fatal: no recipients"},
		{"From: <broken\nTo: a@x.example\n\n", nil, 100, "qmail-inject: fatal: unable to parse this line: From: <broken"},
		// A ) that starts a token; one after an atom's first byte once
		// made the tokenizer loop for ever, and is now part of the atom
		// as in qmail.
		{"From: ) b\nTo: a@x.example\n\n", nil, 100, "qmail-inject: fatal: unable to parse this line: From: ) b"},
		{"To: a@x.example\n\n", []string{"-Q"}, 100, "usage: qmail-inject"},
	} {
		env, _, errOut := testEnv(t, sws5, nil, tc.msg, append([]string{"qmail-inject", "-n"}, tc.args...)...)
		if code := Inject(env); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q %v: exit %d %q, want %d %q", tc.msg, tc.args, code, errOut, tc.code, tc.want)
		}
	}
	env, _, errOut := testEnv(t, nil, nil, "To: a@x.example\n\n", "qmail-inject", "-n")
	if code := Inject(env); code != 111 || !strings.Contains(errOut.String(), "unable to read controls") {
		t.Errorf("no control/me: exit %d %q", code, errOut)
	}
}

// A line end in what the environment or the options say (-F, NAME,
// QMAILHOST: web forms feed them) never starts a header field of its own.
func TestInjectKeepsEnvironmentOnItsLine(t *testing.T) {
	for _, vars := range []map[string]string{
		{"USER": "u", "NAME": "Eve\nX-Injected: yes"},
		{"USER": "u", "QMAILHOST": "h.example\nX-Injected: yes"},
		{"USER": "u\r\nX-Injected: yes"},
	} {
		out, code, errOut := injectPrint(t, vars, "To: joe\n\nbody\n")
		if code != 0 {
			t.Fatalf("%q: exit %d %s", vars, code, errOut)
		}
		if strings.Contains(out, "\nX-Injected:") {
			t.Errorf("%q made a field of its own:\n%s", vars, out)
		}
	}
	env, out, _ := testEnv(t, sws5, nil, "To: joe\n\nbody\n", "sendmail", "-F", "Eve\nX-Injected: yes", "-t")
	opts, _, vars, _ := parseSendmailArgs(env.Args[1:])
	e := *env
	e.Getenv = func(k string) string { return vars[k] }
	opts.print = true
	if err := runInject(&e, opts); err != nil || strings.Contains(out.String(), "\nX-Injected:") {
		t.Fatalf("sendmail -F: %v\n%s", err, out)
	}
}

// A NUL in an address field is no address list: the field is left as it
// was and gives no recipient, and nothing panics.
func TestInjectNULInAnAddressField(t *testing.T) {
	_, code, errOut := injectPrint(t, nil, "To: \"a\x00b\" : x@y.example;, z@w.example\n\nbody\n")
	if code != 100 || !strings.Contains(errOut, "no recipients") {
		t.Fatalf("exit %d %q", code, errOut)
	}
	out, code, _ := injectPrint(t, nil, "To: \"a\x00b\" <x@y.example>\nCc: c@w.example\n\nbody\n")
	if code != 0 || !strings.Contains(out, "To: \"a\x00b\" <x@y.example>\n") {
		t.Fatalf("exit %d:\n%q", code, out)
	}
}

// A QMAILQUEUE program that stops reading says why by its exit code,
// whatever the message's size, as qmail's qmail_close reads the code
// first; one that exits 0 without reading it all did not take it.
func TestInjectQmailQueueExitCodeWinsOverAWriteError(t *testing.T) {
	dir := t.TempDir()
	big := "Subject: big\n\n" + strings.Repeat("0123456789abcdef\n", 64<<10) // 1 MiB
	for _, tc := range []struct {
		script string
		code   int
		text   string
	}{
		{"exit 31", 100, "mail server permanently rejected message (#5.3.0)"},
		{"exit 0", 111, "qq write error or disk full (#4.3.0)"},
	} {
		prog := filepath.Join(dir, "qq")
		os.WriteFile(prog, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755)
		for _, msg := range []string{"Subject: small\n\nx\n", big} {
			env, _, errOut := testEnv(t, sws5, map[string]string{"QMAILQUEUE": prog}, msg, "qmail-inject", "joe@example.org")
			if code := Inject(env); code != tc.code || !strings.Contains(errOut.String(), tc.text) {
				if tc.script == "exit 0" && len(msg) < 100 && code == 0 {
					continue // a small message may fit the pipe before it exits
				}
				t.Errorf("%s, %d bytes: exit %d %q", tc.script, len(msg), code, errOut)
			}
		}
	}
}
