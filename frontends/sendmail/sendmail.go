package sendmail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// smtpSession is sendmail -bs. As qmail's wrapper execs qmail-smtpd, it
// execs qmaild smtpd, found beside this command, on the same stdin and
// stdout and as the same user, with qmail's environment for a local
// session when PROTO is not set: a relay client at 127.0.0.1, no databytes
// (max_message_bytes still holds), TCPREMOTEINFO=sendmail-bs. The
// daemon records the message as this user's, from the socket; while it is
// down the message goes to the pickup directory.
func smtpSession(env *Env) int {
	qmaild, err := beside(env, "qmaild")
	if err != nil {
		fmt.Fprintf(env.Stderr, "sendmail: fatal: -bs needs qmaild: %v\n", err)
		return 111
	}
	environ := os.Environ()
	if _, ok := env.lookup("PROTO"); !ok {
		set := []string{"RELAYCLIENT=", "DATABYTES=0", "PROTO=TCP",
			"TCPLOCALIP=127.0.0.1", "TCPLOCALHOST=localhost",
			"TCPREMOTEIP=127.0.0.1", "TCPREMOTEHOST=localhost", "TCPREMOTEINFO=sendmail-bs"}
		// As qmail's env_put: these replace the caller's (Go's getenv
		// would take the first of two).
		environ = slices.DeleteFunc(environ, func(kv string) bool {
			return slices.ContainsFunc(set, func(s string) bool {
				k, _, _ := strings.Cut(s, "=")
				return strings.HasPrefix(kv, k+"=")
			})
		})
		environ = append(environ, set...)
	}
	err = syscall.Exec(qmaild, []string{qmaild, "--root", env.Root, "smtpd"}, environ)
	fmt.Fprintf(env.Stderr, "sendmail: fatal: unable to run %s: %v\n", qmaild, err)
	return 111
}

// beside finds the command name in the directory this command's binary is
// in, following symbolic links (/usr/sbin/sendmail is one, made by
// qmailctl install-links).
func beside(env *Env, name string) (string, error) {
	self := env.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return "", err
		}
	}
	self, err := filepath.EvalSymlinks(self)
	if err != nil {
		return "", err
	}
	path := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}
