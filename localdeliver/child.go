package localdeliver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/localdeliver/mailbox"
)

// A delivery child is a process running with one user's uid and gid (the
// helper starts it with those credentials). It reads jobs from stdin, one
// frame each, performs them one at a time as that user, and writes one
// response frame per job to stdout. It serves any number of jobs, all for
// its own uid; it exits at the end of its input.

// job is one delivery handed to a child.
type job struct {
	Identity
	Sender          string
	DefaultDelivery string
	Message         []byte
}

func encodeJob(j *job) [][]byte {
	return [][]byte{
		[]byte(j.User), []byte(j.Home), []byte(j.Local), []byte(j.Dash), []byte(j.Ext),
		[]byte(j.Domain), []byte(j.Sender), []byte(j.DefaultDelivery), j.Message,
	}
}

func decodeJob(f [][]byte) (*job, error) {
	if len(f) != 9 {
		return nil, frame.ErrMalformed
	}
	j := &job{Sender: string(f[6]), DefaultDelivery: string(f[7]), Message: f[8]}
	j.User, j.Home, j.Local, j.Dash, j.Ext, j.Domain = string(f[0]), string(f[1]), string(f[2]), string(f[3]), string(f[4]), string(f[5])
	return j, nil
}

// RunChild is the main loop of a delivery child: jobs from in, responses
// to out. It refuses to run as root.
func RunChild(in io.Reader, out io.Writer) error {
	if os.Geteuid() == 0 || os.Getuid() == 0 {
		return errors.New("delivery child refuses to run as root")
	}
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	// The host name goes into every maildir file name; read it once.
	host, _ := os.Hostname()
	c := &childDeliverer{maildir: &mailbox.Maildir{Host: host}, mbox: &mailbox.Mbox{}}
	for {
		fields, err := frame.Read(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delivery child: reading job: %w", err)
		}
		j, err := decodeJob(fields)
		if err != nil {
			return fmt.Errorf("delivery child: %w", err)
		}
		resp := c.deliver(j)
		if err := frame.Write(w, encodeResponse(0, resp)...); err != nil {
			return fmt.Errorf("delivery child: writing result: %w", err)
		}
	}
}

type childDeliverer struct {
	maildir *mailbox.Maildir
	mbox    *mailbox.Mbox
}

func deferral(text string) *Response { return &Response{Status: Deferral, Text: text} }

func fromError(err error) *Response {
	if outcome.IsPermanent(err) {
		return &Response{Status: Failure, Text: outcome.Text(err)}
	}
	return &Response{Status: Deferral, Text: outcome.Text(err)}
}
