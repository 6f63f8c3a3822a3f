package localdeliver

import (
	"fmt"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/localdeliver/aliases"
	"github.com/gqmail/gqmail/localdeliver/dotqmail"
)

// An address of the aliases table is delivered by the alias account's
// delivery child, as any address of ~alias is: the helper resolves it
// (Resolver.lookupAlias) to the alias account with the alias's targets
// written as .qmail lines (&address, |program, /file), and the job
// carries them. The child runs them in place of a .qmail file, with its
// own uid, through the same code as every .qmail line: nothing new runs
// as root, and the alias account can do no more than its own .qmail
// files could.
//
// On the wire an alias job is a job/1 frame with two more fields:
//
//	lines  the .qmail contents (never empty)
//	owner  the envelope sender owner-NAME@domain, or ""

// aliasJobFields is how many fields an alias job adds to job/1.
const aliasJobFields = 2

// aliasFields are the fields an alias job adds; none for any other job.
func (j *job) aliasFields() [][]byte {
	if j.Lines == nil {
		return nil
	}
	return [][]byte{j.Lines, []byte(j.Owner)}
}

// setAliasFields takes the fields after job/1's nine, if any, and gives
// the job the owner's envelope sender.
func (j *job) setAliasFields(f [][]byte) error {
	switch len(f) {
	case 0:
		return nil
	case aliasJobFields:
	default:
		return fmt.Errorf("%w: %q with %d fields", frame.ErrMalformed, tagJob, 9+len(f))
	}
	if len(f[0]) == 0 {
		return fmt.Errorf("%w: %q alias job with no lines", frame.ErrMalformed, tagJob)
	}
	j.Lines, j.Owner = f[0], string(f[1])
	j.Sender = aliases.EnvelopeSender(j.Sender, j.Owner)
	return nil
}

// find is dotqmail.Find for the job: an alias job's lines stand for a
// .qmail file of that content, found under the name "aliases.db".
func (j *job) find(fsys dotqmail.FS) (dotqmail.Target, error) {
	if j.Lines != nil {
		return dotqmail.Target{Name: "aliases.db", Contents: j.Lines}, nil
	}
	return dotqmail.Find(fsys, j.Dash, j.Ext)
}
