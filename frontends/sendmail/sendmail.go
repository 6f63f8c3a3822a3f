package sendmail

import (
	"context"
	"fmt"
	"strings"

	"github.com/gqmail/gqmail/frontends/smtp"
	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

const sendmailUsage = "usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]"

// Sendmail is qmail's sendmail wrapper: sendmail's options mapped onto
// qmail-inject. -t takes the recipients from the header as well as the
// arguments (qmail-inject -H), otherwise only the arguments count (-a);
// -f sets the sender, and the From user and host, dropping any name
// given with -F; -F sets the name; -bp lists the queue, -bs speaks SMTP
// on stdin and stdout; -v -i -m -x -e -p -B -o... -E -J are ignored; any
// other option is a usage error (exit 100).
func Sendmail(env *Env) int {
	opts, mode, vars, err := parseSendmailArgs(env.Args[1:])
	if err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: %v\n", err)
		return 100
	}
	switch mode {
	case 'p':
		return Mailq(env)
	case 's':
		return smtpSession(env)
	}
	e := *env
	base := env.Getenv
	e.Getenv = func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return base(k)
	}
	return report(&e, "sendmail", runInject(&e, opts))
}

// parseSendmailArgs reads sendmail's options as qmail's wrapper does
// (getopt "vimte:f:p:o:B:F:EJxb:"). vars are the environment variables
// the options set; an empty value hides the variable.
func parseSendmailArgs(args []string) (injectOptions, byte, map[string]string, error) {
	opts := injectOptions{rcptMode: 'a'}
	mode := byte('m')
	vars := map[string]string{}
	name := ""
	haveName := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
	word:
		for i := 1; i < len(a); i++ {
			c := a[i]
			// value takes an option's argument: the rest of the word, or
			// the next word.
			value := func() (string, error) {
				if v := a[i+1:]; v != "" {
					return v, nil
				}
				if len(args) == 0 {
					return "", fmt.Errorf("option -%c needs an argument\n%s", c, sendmailUsage)
				}
				v := args[0]
				args = args[1:]
				return v, nil
			}
			switch c {
			case 'v', 'i', 'm', 'x', 'U': // -U: initial submission, as Postfix takes it
			case 't':
				opts.rcptMode = 'H'
			case 'E', 'J':
				break word
			case 'e', 'p', 'o', 'B':
				if _, err := value(); err != nil {
					return opts, 0, nil, err
				}
				break word
			case 'F':
				v, err := value()
				if err != nil {
					return opts, 0, nil, err
				}
				name, haveName = v, true
				break word
			case 'f':
				v, err := value()
				if err != nil {
					return opts, 0, nil, err
				}
				opts.sender, opts.senderOK = v, true
				break word
			case 'b':
				v, err := value()
				if err != nil {
					return opts, 0, nil, err
				}
				switch v {
				case "m":
					mode = 'm'
				case "p":
					mode = 'p'
				case "s":
					mode = 's'
				default:
					return opts, 0, nil, fmt.Errorf("option -b%s is not supported\n%s", v, sendmailUsage)
				}
				break word
			default:
				return opts, 0, nil, fmt.Errorf("option -%c is not supported\n%s", c, sendmailUsage)
			}
		}
	}
	if haveName {
		vars["MAILNAME"] = name
	}
	if opts.senderOK {
		// netqmail: the sender is also the From, and names from the
		// environment or -F no longer fit it.
		for _, k := range []string{"QMAILNAME", "MAILNAME", "NAME", "QMAILHOST", "MAILHOST"} {
			vars[k] = ""
		}
		user, host := opts.sender, ""
		if at := strings.LastIndexByte(user, '@'); at >= 0 {
			user, host = user[:at], user[at+1:]
		}
		vars["QMAILUSER"] = user
		if host != "" {
			vars["QMAILHOST"] = host
		}
	}
	opts.args = args
	return opts, mode, vars, nil
}

// smtpSession is sendmail -bs: an SMTP session on stdin and stdout, as
// qmail's wrapper runs qmail-smtpd with RELAYCLIENT set. The message goes
// to the daemon as this user's (the socket tells it the uid), or into the
// pickup directory.
func smtpSession(env *Env) int {
	p := env.paths()
	cfg := config.Defaults(false)
	if c, err := config.Load(p.Config, cfg); err == nil {
		cfg = *c
	}
	ctl := control.Open(p.Control, nil)
	srv := &smtp.Server{
		Controls: ctl,
		Config:   &cfg.SMTP,
		Router:   &route.Router{Controls: ctl},
		Queue:    submitQueue{env},
		Log:      qlog.New(env.Stderr, cfg.Log.Format),
	}
	in, out, err := smtp.OpenStdio()
	if err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: fatal: %v\n", err)
		return 111
	}
	conn := smtp.NewStdioConn(in, out, func(k string) (string, bool) {
		v, ok := map[string]string{
			"RELAYCLIENT": "", "TCPLOCALIP": "127.0.0.1", "TCPLOCALHOST": "localhost",
			"TCPREMOTEIP": "127.0.0.1", "TCPREMOTEHOST": "localhost",
		}[k]
		return v, ok
	})
	if err := srv.ServeConn(conn); err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: fatal: %v\n", err)
		return 111
	}
	return 0
}

// submitQueue is the SMTP session's queue: a submission to the daemon,
// or to the pickup directory.
type submitQueue struct{ env *Env }

func (q submitQueue) Begin(ctx context.Context) (smtp.Draft, error) {
	s, err := begin(ctx, q.env.paths())
	if err != nil {
		return nil, err
	}
	return submitDraft{s}, nil
}

type submitDraft struct{ s *submission }

func (d submitDraft) Write(p []byte) (int, error) { return d.s.Write(p) }
func (d submitDraft) Abort()                      { d.s.abort() }

func (d submitDraft) Commit(_ context.Context, msg *store.NewMessage) (store.MsgID, error) {
	id, _, err := d.s.commit(msg.Sender, msg.Recipients)
	return id, err
}
