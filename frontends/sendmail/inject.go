package sendmail

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/date822"
	"github.com/gqmail/gqmail/internal/outcome"
)

// injectOptions are qmail-inject's options, and what sendmail maps onto
// them.
type injectOptions struct {
	// rcptMode is where the recipients come from: 'a' the arguments,
	// 'h' the header, 'H' both, 'A' the arguments if any, else the
	// header.
	rcptMode byte
	sender   string // -f
	senderOK bool
	print    bool // -n
	args     []string
}

// The fields qmail-inject treats by kind.
var (
	senderFields    = []string{"sender", "from", "reply-to", "return-receipt-to", "errors-to", "resent-sender", "resent-from", "resent-reply-to"}
	recipientFields = []string{"to", "cc", "bcc", "apparently-to", "resent-to", "resent-cc", "resent-bcc"}
	resentFields    = []string{"resent-sender", "resent-from", "resent-reply-to", "resent-to", "resent-cc", "resent-bcc", "resent-date", "resent-message-id"}
	droppedFields   = []string{"bcc", "resent-bcc", "return-path", "content-length"}
)

func oneOf(key string, set []string) bool {
	for _, s := range set {
		if key == s {
			return true
		}
	}
	return false
}

// fatal is qmail-inject's way to stop: its message and exit code.
type fatal struct {
	code int
	text string
}

func (f *fatal) Error() string { return f.text }

func usage(text string) error     { return &fatal{100, text} }
func temporary(text string) error { return &fatal{111, text} }

// injector is one run of qmail-inject.
type injector struct {
	env     *Env
	opts    injectOptions
	ctl     *control.Dir
	q       address.Qualifier
	letters string // QMAILINJECT
	now     time.Time
	pid     int
}

// Inject is qmail-inject: options from env.Args, the message on stdin.
func Inject(env *Env) int {
	opts, err := parseInjectArgs(env.Args[1:])
	if err == nil {
		err = runInject(env, opts)
	}
	return report(env, "qmail-inject", err)
}

// report prints err as qmail-inject's fatal line and returns the exit
// code.
func report(env *Env, name string, err error) int {
	if err == nil {
		return 0
	}
	code := 111
	var f *fatal
	switch {
	case asFatal(err, &f):
		code = f.code
	case outcome.IsPermanent(err):
		code = 100
	}
	fmt.Fprintf(env.Stderr, "%s: fatal: %s\n", name, strings.TrimSpace(outcomeText(err)))
	return code
}

func asFatal(err error, f **fatal) bool {
	if e, ok := err.(*fatal); ok {
		*f = e
		return true
	}
	return false
}

func outcomeText(err error) string {
	if f, ok := err.(*fatal); ok {
		return f.text
	}
	return outcome.Text(err)
}

// parseInjectArgs reads qmail-inject's options: -a -h -H -A -n -N -f
// sender; the rest are recipients.
func parseInjectArgs(args []string) (injectOptions, error) {
	o := injectOptions{rcptMode: 'A'}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		for i := 1; i < len(a); i++ {
			switch c := a[i]; c {
			case 'a', 'h', 'H', 'A':
				o.rcptMode = c
			case 'n':
				o.print = true
			case 'N':
				o.print = false
			case 'f':
				v := a[i+1:]
				if v == "" {
					if len(args) == 0 {
						return o, usage("usage: qmail-inject [ -nNaAhH ] [ -fsender ] [ arg ... ]")
					}
					v, args = args[0], args[1:]
				}
				o.sender, o.senderOK = v, true
				i = len(a)
			default:
				return o, usage("usage: qmail-inject [ -nNaAhH ] [ -fsender ] [ arg ... ]")
			}
		}
	}
	o.args = args
	return o, nil
}

func runInject(env *Env, opts injectOptions) error {
	// What the environment and the options give goes into header fields:
	// a line end in a name (-F, NAME, QMAILHOST, ...) would start a field
	// of its own, so control bytes become spaces. (qmail's token822
	// quoting lets them through; web forms feed -F and -f.)
	safe, getenv := *env, env.Getenv
	safe.Getenv = func(k string) string { return headerSafe(getenv(k)) }
	env = &safe
	inj := &injector{env: env, opts: opts, now: time.Now(), pid: os.Getpid()}
	inj.ctl = control.Open(env.paths().Control, nil)
	if _, ok := inj.ctl.Me(); !ok {
		return temporary("unable to read controls: " + env.paths().Control + "/me is missing")
	}
	inj.q = address.Qualifier{
		DefaultHost:   or(env.Getenv("QMAILDEFAULTHOST"), inj.ctl.DefaultHost()),
		DefaultDomain: or(env.Getenv("QMAILDEFAULTDOMAIN"), inj.ctl.DefaultDomain()),
		PlusDomain:    or(env.Getenv("QMAILPLUSDOMAIN"), inj.ctl.PlusDomain()),
	}
	inj.letters = env.Getenv("QMAILINJECT")
	return inj.run()
}

// headerSafe turns control bytes into spaces.
func headerSafe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (inj *injector) letter(c byte) bool { return strings.IndexByte(inj.letters, c) >= 0 }

func (inj *injector) run() error {
	r := bufio.NewReaderSize(inj.env.Stdin, 64<<10)
	fields, body, err := readHeader(r)
	if err != nil {
		return temporary("unable to read the message: " + err.Error())
	}
	head, headerRcpts, returnPath, err := inj.rewrite(fields)
	if err != nil {
		return err
	}
	rcpts, err := inj.recipients(headerRcpts)
	if err != nil {
		return err
	}
	sender := inj.sender(returnPath)
	if inj.opts.print {
		w := bufio.NewWriter(inj.env.Stdout)
		fmt.Fprintf(w, "Return-Path: <%s>\n", address.Quote(sender))
		w.Write(head)
		io.Copy(w, body)
		return w.Flush()
	}
	return queueMessage(inj.env, head, body, sender, rcpts)
}

// rewrite goes through the header: it drops what qmail-inject drops,
// rewrites the addresses of sender and recipient fields, collects the
// header's recipients, and puts the fields it adds in front. It returns
// the header to write, blank line included.
func (inj *injector) rewrite(fields []field) (head []byte, rcpts []string, returnPath string, err error) {
	resent := false
	for _, f := range fields {
		resent = resent || oneOf(f.key(), resentFields)
	}
	has := map[string]bool{}
	var kept bytes.Buffer
	for _, f := range fields {
		key := f.key()
		switch {
		case key == "return-path":
			if l, err := parseAddrList(f.value); err == nil && len(l.addrs) > 0 {
				returnPath = l.addrs[0]
			}
			continue
		case oneOf(key, droppedFields) && !oneOf(key, recipientFields):
			continue
		case key == "from" && inj.letter('f'), key == "message-id" && inj.letter('i'):
			continue
		}
		if oneOf(key, senderFields) {
			l, err := parseAddrList(f.value)
			if err != nil {
				return nil, nil, "", usage(fmt.Sprintf("unable to parse this line: %s:%s", f.name, strings.ReplaceAll(f.value, "\n", " ")))
			}
			f.value = l.write(inj.q.Qualify)
		}
		if oneOf(key, recipientFields) {
			// An address list that cannot be parsed is left as it was
			// (notqmail 1.09), and gives no recipient.
			if l, err := parseAddrList(f.value); err == nil {
				f.value = l.write(inj.q.Qualify)
				// A resent message's recipients are the Resent- set's
				// only.
				if resent == strings.HasPrefix(key, "resent-") {
					for _, a := range l.addrs {
						rcpts = append(rcpts, inj.q.Qualify(a))
					}
				}
			}
			if oneOf(key, droppedFields) {
				continue // Bcc and Resent-Bcc: used, never shown
			}
		}
		has[key] = true
		writeField(&kept, f)
	}
	var added bytes.Buffer
	p := ""
	if resent {
		p = "Resent-"
	}
	lp := strings.ToLower(p)
	if !has[lp+"date"] {
		fmt.Fprintf(&added, "%sDate: %s\n", p, date822.Format(inj.now))
	}
	if !has[lp+"message-id"] {
		fmt.Fprintf(&added, "%sMessage-ID: <%s.%d.qmail@%s>\n", p, inj.now.UTC().Format("20060102150405"), inj.pid, inj.ctl.IDHost())
	}
	if !has[lp+"from"] {
		fmt.Fprintf(&added, "%sFrom: %s\n", p, inj.defaultFrom())
	}
	if !has[lp+"to"] && !has[lp+"cc"] {
		fmt.Fprintf(&added, "%sCc: recipient list not shown: ;\n", p)
	}
	added.Write(kept.Bytes())
	added.WriteByte('\n')
	return added.Bytes(), rcpts, returnPath, nil
}

// recipients chooses the envelope recipients by the options.
func (inj *injector) recipients(header []string) ([]string, error) {
	var args []string
	for _, a := range inj.opts.args {
		args = append(args, inj.q.Qualify(a))
	}
	var out []string
	switch inj.opts.rcptMode {
	case 'a':
		out = args
	case 'h':
		out = header
	case 'H':
		out = append(args, header...)
	default:
		out = args
		if len(out) == 0 {
			out = header
		}
	}
	if len(out) == 0 {
		return nil, usage("no recipients")
	}
	return out, nil
}

// fromUser and fromHost are the default From's parts.
func (inj *injector) fromUser() string {
	for _, v := range []string{"QMAILUSER", "MAILUSER", "USER", "LOGNAME"} {
		if u := inj.env.Getenv(v); u != "" {
			return u
		}
	}
	return "anonymous"
}

func (inj *injector) fromHost() string {
	return or(inj.env.Getenv("QMAILHOST"), inj.env.Getenv("MAILHOST"))
}

// defaultFrom is the From field qmail-inject adds.
func (inj *injector) defaultFrom() string {
	addr := inj.fromUser()
	if h := inj.fromHost(); h != "" {
		addr += "@" + h
	}
	addr = address.Quote(inj.q.Qualify(addr))
	name := ""
	for _, v := range []string{"QMAILNAME", "MAILNAME", "NAME"} {
		if n := inj.env.Getenv(v); n != "" {
			name = n
			break
		}
	}
	switch {
	case name == "":
		return addr
	case inj.letter('c'):
		return addr + " (" + strings.NewReplacer("(", "", ")", "", "\\", "").Replace(name) + ")"
	default:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `" <` + addr + ">"
	}
}

// sender is the envelope sender: -f, else the incoming Return-Path
// (unless QMAILINJECT has s), else one made from QMAILSUSER and
// QMAILSHOST or the default From's parts, with the VERP letters applied.
func (inj *injector) sender(returnPath string) string {
	switch {
	case inj.opts.senderOK:
		return inj.q.Qualify(inj.opts.sender)
	case returnPath != "" && !inj.letter('s'):
		return inj.q.Qualify(returnPath)
	}
	user := or(inj.env.Getenv("QMAILSUSER"), inj.fromUser())
	host := or(inj.env.Getenv("QMAILSHOST"), inj.fromHost())
	switch {
	case inj.letter('r'):
		user += "-"
	case inj.letter('m'):
		user += fmt.Sprintf("-%d.%d", inj.now.Unix(), inj.pid)
	}
	addr := user
	if host != "" {
		addr += "@" + host
	}
	addr = inj.q.Qualify(addr)
	if inj.letter('r') {
		addr += address.VERPSuffix
	}
	return addr
}

// queueMessage sends the header and the body to the queue.
func queueMessage(env *Env, head []byte, body io.Reader, sender string, rcpts []string) error {
	// What the daemon would refuse, refused here, with the address.
	for _, a := range append([]string{sender}, rcpts...) {
		if !submission.GoodAddress(a) {
			return usage(fmt.Sprintf("the address %.60q holds a CR, LF or NUL, or is 900 bytes or longer", a))
		}
	}
	o, err := openQueue(env)
	if err != nil {
		return err
	}
	_, _, err = o.send(sender, rcpts, bytes.NewReader(head), body)
	return err
}
