package localdeliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/dotforward"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
)

// forwardRun is what a built-in dot-forward needs from the delivery it
// runs in, and what it adds to it.
type forwardRun struct {
	j          *job
	msg        *message
	env        mailbox.Envelope
	programEnv func() []string
	rep        *report
	files      *int
	programs   *int
	forwards   *[]string
}

// dotForward does what "|dot-forward FILE..." does (see package
// dotforward), as the user. stop is dot-forward's exit 99: the rest of the
// .qmail file is skipped. A non-nil Response ends the delivery.
func (c *childDeliverer) dotForward(ctx context.Context, call dotforward.Call, r *forwardRun, fail func(error) *Response) (stop bool, resp *Response) {
	who := dotforward.Owner{User: r.j.User, IsHost: func(d string) bool { return strings.EqualFold(d, r.j.Domain) }}
	for _, name := range call.Files {
		contents, err := readForward(name)
		if err != nil {
			return false, fail(err)
		}
		if len(contents) == 0 {
			continue
		}
		entries, err := dotforward.Parse(contents, who, c.qualifier())
		var errs dotforward.Errors
		if errors.As(err, &errs) {
			e := errs[0]
			return false, fail(outcome.TemporaryErr(err, "Unable to parse %s line %d: %v. (#4.3.0)", name, e.Line, e.Err))
		}
		if len(entries) == 0 {
			continue
		}
		if call.Print {
			// dot-forward -n's words, and "file" for what it refuses.
			for _, e := range entries {
				switch e.Kind {
				case dotforward.Forward:
					fmt.Fprintf(r.rep, "dot-forward: %s: forward %s\n", name, e.Value)
				case dotforward.Program:
					fmt.Fprintf(r.rep, "dot-forward: %s: pipe through %s\n", name, e.Value)
				case dotforward.File:
					fmt.Fprintf(r.rep, "dot-forward: %s: file %s\n", name, e.Value)
				case dotforward.Self:
					fmt.Fprintf(r.rep, "dot-forward: %s: direct delivery\n", name)
				}
			}
			return false, nil
		}
		self := false
		var forwards []string
		for _, e := range entries {
			switch e.Kind {
			case dotforward.Self:
				self = true
			case dotforward.Forward:
				forwards = append(forwards, e.Value)
			case dotforward.File:
				var err error
				if strings.HasSuffix(e.Value, "/") {
					_, err = c.maildir.Deliver(ctx, e.Value, r.env, r.msg.reader())
				} else {
					err = c.mbox.Append(ctx, e.Value, r.env, r.msg.reader())
				}
				if err != nil {
					return false, fail(err)
				}
				*r.files++
			case dotforward.Program:
				*r.programs++
				if resp := c.forwardProgram(e.Value, r, fail); resp != nil {
					return false, resp
				}
			}
		}
		*r.forwards = append(*r.forwards, forwards...)
		return !self, nil
	}
	return false, nil
}

// forwardProgram runs a .forward program as dot-forward runs it: the
// message after UFLINE, RPLINE and DTLINE on its standard input, and 99
// counted as any other failure.
func (c *childDeliverer) forwardProgram(command string, r *forwardRun, fail func(error) *Response) *Response {
	now := r.env.Time
	head := mailbox.UFLine(r.j.Sender, now) + mailbox.RPLine(r.j.Sender) + mailbox.DTLine(r.env.Recipient)
	m := &message{head: append([]byte(head), r.msg.head...), rest: r.msg.rest, restSize: r.msg.restSize}
	exit, code, err := runProgram(command, r.j.Home, m, r.programEnv(), r.rep, c.programs)
	if err != nil {
		return fail(err)
	}
	switch exit {
	case programPermanent:
		return failed(r.rep, true, code)
	case programStop, programTemporary:
		return failed(r.rep, false, code)
	}
	return nil
}

// readForward reads one .forward file of the home: nil for a missing
// one. It refuses what sendmail refuses: a file its group or others may
// write, since they could make the user run anything.
func readForward(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, outcome.TemporaryErr(err, "Unable to open %s: %s. (#4.3.0)", name, outcome.SystemText(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, outcome.TemporaryErr(err, "Unable to open %s: %s. (#4.3.0)", name, outcome.SystemText(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, outcome.Temporary("Unable to read %s: not a regular file. (#4.3.0)", name)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return nil, outcome.TemporaryErr(fmt.Errorf("%s has mode %04o", name, perm), "Uh-oh: .forward file is writable. (#4.7.0)")
	}
	contents, err := io.ReadAll(io.LimitReader(f, dotforward.MaxSize+1))
	if err != nil {
		return nil, outcome.TemporaryErr(err, "Unable to read %s: %s. (#4.3.0)", name, outcome.SystemText(err))
	}
	if len(contents) > dotforward.MaxSize {
		return nil, outcome.Temporary("Unable to read %s: larger than %d bytes. (#4.3.0)", name, dotforward.MaxSize)
	}
	return contents, nil
}

// qualifier is dot-forward's: control/defaulthost, defaultdomain and
// plusdomain, each defaulting to me, read live.
func (c *childDeliverer) qualifier() address.Qualifier {
	if c.control == nil {
		return address.Qualifier{DefaultHost: "defaulthost", DefaultDomain: "defaultdomain", PlusDomain: "plusdomain"}
	}
	return address.Qualifier{DefaultHost: c.control.DefaultHost(), DefaultDomain: c.control.DefaultDomain(), PlusDomain: c.control.PlusDomain()}
}
