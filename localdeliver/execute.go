package localdeliver

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/dotforward"
	"github.com/gqmail/gqmail/localdeliver/dotqmail"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
)

// deliver performs one job as qmail-local does: the home checks, the loop
// check, the .qmail file (or the default delivery), its lines in order
// (a "|dot-forward" line is done here, by dotForward), and the forwards it
// collected, handed back to be queued. Any failing line ends the delivery
// with that failure, and nothing is forwarded.
func (c *childDeliverer) deliver(j *job) *Response {
	msg, err := newMessage(j.Message, j.Rest)
	if err != nil {
		return deferral(fmt.Sprintf("Unable to read the message: %v. (#4.3.0)", err))
	}
	if err := os.Chdir(j.Home); err != nil {
		return deferral(fmt.Sprintf("Unable to switch to %s: %s. (#4.3.0)", j.Home, outcome.SystemText(err)))
	}
	fi, err := os.Stat(".")
	if err != nil {
		return deferral(fmt.Sprintf("Unable to switch to %s: %s. (#4.3.0)", j.Home, outcome.SystemText(err)))
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return deferral("Uh-oh: home directory is writable. (#4.7.0)")
	}
	if fi.Mode()&os.ModeSticky != 0 {
		return deferral("Home directory is sticky: user is editing his .qmail file. (#4.2.1)")
	}
	recipient := j.Local + "@" + j.Domain
	loop, err := dotqmail.IsLoop(msg.reader(), recipient)
	if err != nil {
		return deferral(fmt.Sprintf("Unable to read the message: %s. (#4.3.0)", outcome.SystemText(err)))
	}
	if loop {
		return fromError(dotqmail.Loop())
	}

	fsys := dotqmail.OS{}
	target, err := j.find(fsys)
	if err != nil {
		return fromError(err)
	}
	instrs, err := target.Instructions(j.Dash, j.DefaultDelivery)
	if err != nil {
		return fromError(err)
	}
	newSender, err := dotqmail.NewSender(fsys, j.Sender, j.Local, j.Domain, j.Dash, j.Ext)
	if err != nil {
		return fromError(err)
	}

	now := time.Now()
	env := mailbox.Envelope{Sender: j.Sender, Recipient: recipient, Time: now}
	var (
		rep             report
		files, programs int
		forwards        []string
		programEnv      []string
		ctx             = context.Background()
	)
	getProgramEnv := func() []string {
		if programEnv == nil {
			programEnv = dotqmail.Env(dotqmail.Delivery{
				User: j.User, Home: j.Home, Local: j.Local, Domain: j.Domain,
				Sender: j.Sender, NewSender: newSender, Ext: j.Ext,
			}, target, mailbox.DTLine(recipient), mailbox.RPLine(j.Sender), mailbox.UFLine(j.Sender, now))
		}
		return programEnv
	}
	// fail ends the delivery with err, its text after what the
	// programs before it printed.
	fail := func(err error) *Response {
		rep.Write([]byte(outcome.Text(err)))
		return fromError(&outcome.Error{Permanent: outcome.IsPermanent(err), Text: rep.String(), Err: err})
	}
lines:
	for _, in := range instrs {
		switch in.Kind {
		case dotqmail.Mbox:
			if err := c.mbox.Append(ctx, in.Value, env, msg.reader()); err != nil {
				return fail(err)
			}
			files++
		case dotqmail.Maildir:
			if _, err := c.maildir.Deliver(ctx, in.Value, env, msg.reader()); err != nil {
				return fail(err)
			}
			files++
		case dotqmail.Forward:
			forwards = append(forwards, in.Value)
		case dotqmail.Program:
			if call, ok := dotforward.Command(in.Value); ok {
				stop, resp := c.dotForward(ctx, call, &forwardRun{
					j: j, msg: msg, env: env, programEnv: getProgramEnv, rep: &rep,
					files: &files, programs: &programs, forwards: &forwards,
				}, fail)
				if resp != nil {
					return resp
				}
				if stop {
					break lines
				}
				continue
			}
			programs++
			exit, code, err := runProgram(in.Value, j.Home, msg, getProgramEnv(), &rep, c.programs)
			if err != nil {
				return fail(err)
			}
			switch exit {
			case programStop:
				break lines
			case programPermanent:
				return failed(&rep, true, code)
			case programTemporary:
				return failed(&rep, false, code)
			}
		}
	}
	fmt.Fprintf(&rep, "did %d+%d+%d\n", files, len(forwards), programs)
	return &Response{Report: rep.String(), Forward: forwards, NewSender: newSender}
}

// failed is the result of a program that failed: its own output is the
// report, as in qmail; a silent program gets a line saying how it ended.
func failed(rep *report, permanent bool, code int) *Response {
	if len(rep.b) == 0 {
		class := 4
		if permanent {
			class = 5
		}
		fmt.Fprintf(rep, "Program exited %d. (#%d.0.0)", code, class)
	}
	return &Response{Err: &outcome.Error{Permanent: permanent, Text: rep.String()}}
}
