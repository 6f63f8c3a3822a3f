package localdeliver

import (
	"fmt"
	"os"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
)

// The frames' tags; the package doc lists every field.
const (
	tagDeliver = "deliver/1"
	tagResult  = "result/1"
	tagJob     = "job/1"
	tagVersion = "version"
)

// tokenLen is the length of a request token.
const tokenLen = 16

// maxRequestFrame bounds a request or job frame. A queued body larger than
// store.InlineMax travels as a descriptor; an inline one is at most a
// bounce of that much with its recipients' reports.
const maxRequestFrame = 16 << 20

// Request asks for one local delivery. It is all the daemon may say: the
// helper decides who the recipient is.
type Request struct {
	// Recipient is the address to deliver to, local@domain, after
	// virtualdomains rewriting.
	Recipient string
	Sender    string
	// Message is the queued message with LF line ends, or its first part
	// when Rest is set.
	Message []byte
	// Rest, when set, holds the rest of the message, read from its start.
	Rest *os.File
}

// Response is the result of one delivery, as internal/outcome says
// results are: a nil Err is a delivery, with Report its success text
// ("did 1+0+1"); otherwise Err is a temporary or permanent failure with
// qmail's text.
type Response struct {
	Report string
	Err    error
	// Forward lists addresses the delivery forwarded the message to, and
	// NewSender the envelope sender for those copies.
	Forward   []string
	NewSender string
}

// text is what goes on the wire beside the letter.
func (r *Response) text() string {
	if r.Err != nil {
		return outcome.Text(r.Err)
	}
	return r.Report
}

// versionError is a frame whose tag this side does not speak.
type versionError struct {
	got, want string
}

func (e *versionError) Error() string {
	return fmt.Sprintf("peer speaks %q, this side %q", e.got, e.want)
}

// checkTag returns the fields after the tag, or an error that says which
// tag came and which was wanted. A "version" frame is the peer saying it
// does not speak ours.
func checkTag(fields [][]byte, want string, n int) ([][]byte, error) {
	if len(fields) == 0 {
		return nil, frame.ErrMalformed
	}
	tag := string(fields[0])
	if tag == tagVersion && len(fields) == 2 {
		return nil, &versionError{got: string(fields[1]), want: want}
	}
	if tag != want {
		return nil, &versionError{got: tag, want: want}
	}
	if len(fields)-1 < n {
		return nil, fmt.Errorf("%w: %q with %d fields, want at least %d", frame.ErrMalformed, tag, len(fields)-1, n)
	}
	return fields[1:], nil
}

func encodeRequest(tok []byte, req *Request) [][]byte {
	return [][]byte{[]byte(tagDeliver), tok, []byte(req.Recipient), []byte(req.Sender), req.Message}
}

func decodeRequest(fields [][]byte) ([]byte, *Request, error) {
	f, err := checkTag(fields, tagDeliver, 4)
	if err != nil {
		return nil, nil, err
	}
	if len(f) != 4 || len(f[0]) != tokenLen {
		return nil, nil, fmt.Errorf("%w: %q with %d fields and a %d-byte token", frame.ErrMalformed, tagDeliver, len(f), len(f[0]))
	}
	return f[0], &Request{Recipient: string(f[1]), Sender: string(f[2]), Message: f[3]}, nil
}

func encodeResult(tok []byte, r *Response) [][]byte {
	fields := [][]byte{[]byte(tagResult), tok, {outcome.Letter(r.Err)}, []byte(r.text()), []byte(r.NewSender)}
	for _, f := range r.Forward {
		fields = append(fields, []byte(f))
	}
	return fields
}

func decodeResult(fields [][]byte) ([]byte, *Response, error) {
	f, err := checkTag(fields, tagResult, 4)
	if err != nil {
		return nil, nil, err
	}
	if len(f[1]) != 1 {
		return nil, nil, fmt.Errorf("%w: status of %d bytes", frame.ErrMalformed, len(f[1]))
	}
	err, ok := outcome.FromLetter(f[1][0], string(f[2]))
	if !ok {
		return nil, nil, fmt.Errorf("%w: unknown delivery status %q", frame.ErrMalformed, f[1][0])
	}
	r := &Response{Err: err, NewSender: string(f[3])}
	if err == nil {
		r.Report = string(f[2])
	}
	for _, a := range f[4:] {
		r.Forward = append(r.Forward, string(a))
	}
	return f[0], r, nil
}
