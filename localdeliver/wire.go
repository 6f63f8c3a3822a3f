package localdeliver

import (
	"fmt"

	"github.com/gqmail/gqmail/internal/frame"
)

// The daemon, the helper and the delivery children talk in frames
// (internal/frame).

// Request asks for one local delivery. It is all the daemon may say: the
// helper decides who the recipient is.
type Request struct {
	// Recipient is the address to deliver to, local@domain, after
	// virtualdomains rewriting.
	Recipient string
	Sender    string
	// Message is the queued message with LF line ends.
	Message []byte
}

// Status is a delivery's result class, as qmail-lspawn reports it.
type Status byte

const (
	// Success: the message was delivered (K).
	Success Status = 'K'
	// Deferral: try again later (Z).
	Deferral Status = 'Z'
	// Failure: permanent, bounce (D).
	Failure Status = 'D'
)

// Response is the result of one delivery.
type Response struct {
	Status Status
	// Text is the report: "did 0+0+1" style on success, the reason
	// otherwise.
	Text string
	// Forward lists addresses the delivery forwarded the message to, and
	// NewSender the envelope sender for those copies.
	Forward   []string
	NewSender string
}

func encodeResponse(id uint64, r *Response) [][]byte {
	fields := [][]byte{frame.U64(id), {byte(r.Status)}, []byte(r.Text), []byte(r.NewSender)}
	for _, f := range r.Forward {
		fields = append(fields, []byte(f))
	}
	return fields
}

func decodeResponse(fields [][]byte) (uint64, *Response, error) {
	if len(fields) < 4 || len(fields[1]) != 1 {
		return 0, nil, frame.ErrMalformed
	}
	id, ok := frame.GetU64(fields[0])
	if !ok {
		return 0, nil, frame.ErrMalformed
	}
	r := &Response{Status: Status(fields[1][0]), Text: string(fields[2]), NewSender: string(fields[3])}
	switch r.Status {
	case Success, Deferral, Failure:
	default:
		return 0, nil, fmt.Errorf("unknown delivery status %q", fields[1][0])
	}
	for _, f := range fields[4:] {
		r.Forward = append(r.Forward, string(f))
	}
	return id, r, nil
}
