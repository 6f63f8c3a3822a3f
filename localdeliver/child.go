package localdeliver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
)

// A delivery child is a process running with one user's uid and gid (the
// helper starts it with those credentials). It reads jobs from its socket
// to the helper, one frame each, performs them one at a time as that user,
// and answers each with one result frame. It serves any number of jobs,
// all for its own uid; it exits when the helper closes the socket.

// job is one delivery handed to a child.
type job struct {
	Identity
	Sender          string
	DefaultDelivery string
	// Message is the message, or its first part when Rest is set.
	Message []byte
	// Rest holds the rest of the message, from its start.
	Rest *os.File
}

func encodeJob(j *job) [][]byte {
	return append([][]byte{
		[]byte(tagJob), []byte(j.User), []byte(j.Home), []byte(j.Local), []byte(j.Dash), []byte(j.Ext),
		[]byte(j.Domain), []byte(j.Sender), []byte(j.DefaultDelivery), j.Message,
	}, j.aliasFields()...)
}

func decodeJob(fields [][]byte) (*job, error) {
	f, err := checkTag(fields, tagJob, 9)
	if err != nil {
		return nil, err
	}
	if len(f) != 9 && len(f) != 9+aliasJobFields {
		return nil, fmt.Errorf("%w: %q with %d fields", frame.ErrMalformed, tagJob, len(f))
	}
	j := &job{Sender: string(f[6]), DefaultDelivery: string(f[7]), Message: f[8]}
	j.User, j.Home, j.Local, j.Dash, j.Ext, j.Domain = string(f[0]), string(f[1]), string(f[2]), string(f[3]), string(f[4]), string(f[5])
	return j, j.setAliasFields(f[9:])
}

// ChildOptions are a delivery child's settings, from its command line.
type ChildOptions struct {
	// ProgramTimeout ends a .qmail program that runs longer; zero means
	// DefaultProgramTimeout.
	ProgramTimeout time.Duration
	// Control is the root's control directory (absolute), read as the
	// user for the qualification of .forward addresses (defaulthost,
	// defaultdomain, plusdomain, me), as dot-forward reads it; empty
	// means none: those names themselves.
	Control string
}

// RunChild is the main loop of a delivery child: jobs from conn, one
// result each back. It refuses to run as root.
func RunChild(conn *frame.Conn, opts ChildOptions) error {
	if os.Geteuid() == 0 || os.Getuid() == 0 {
		return errors.New("delivery child refuses to run as root")
	}
	// The host name goes into every maildir file name; read it once.
	host, _ := os.Hostname()
	c := &childDeliverer{maildir: &mailbox.Maildir{Host: host}, mbox: &mailbox.Mbox{}, programs: programLimits{timeout: opts.ProgramTimeout}}
	if opts.Control != "" {
		// The helper logs the child's stderr, naming the uid.
		c.control = control.Open(opts.Control, func(err error) { fmt.Fprintf(os.Stderr, "%v\n", err) })
	}
	for {
		fields, rest, err := conn.ReadLimit(maxRequestFrame)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delivery child: reading job: %w", err)
		}
		j, err := decodeJob(fields)
		if err != nil {
			var v *versionError
			if errors.As(err, &v) {
				conn.Write(nil, []byte(tagVersion), []byte(tagJob))
			}
			return fmt.Errorf("delivery child: %w", err)
		}
		j.Rest = rest
		resp := c.deliver(j)
		if rest != nil {
			rest.Close()
		}
		if err := conn.Write(nil, encodeResult(nil, resp)...); err != nil {
			return fmt.Errorf("delivery child: writing result: %w", err)
		}
	}
}

type childDeliverer struct {
	maildir  *mailbox.Maildir
	mbox     *mailbox.Mbox
	programs programLimits
	control  *control.Dir // nil: no control directory
}

func deferral(text string) *Response { return &Response{Err: outcome.Temporary("%s", text)} }

func fromError(err error) *Response { return &Response{Err: err} }
