package localdeliver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The daemon, the helper and the delivery children talk in frames: a
// 4-byte big-endian length, then that many bytes holding a sequence of
// fields, each a uvarint length and its bytes. Readers bound the frame size
// before they allocate, since the helper reads frames from the
// unprivileged daemon and must survive anything it sends.

// maxFrame bounds one frame: the largest message plus room for the
// envelope.
const maxFrame = 1<<30 + 1<<20

func writeFrame(w *bufio.Writer, fields ...[]byte) error {
	n := 0
	for _, f := range fields {
		n += binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(f))) + len(f)
	}
	if n > maxFrame {
		return fmt.Errorf("frame of %d bytes is larger than %d", n, maxFrame)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	w.Write(hdr[:])
	var lb [binary.MaxVarintLen64]byte
	for _, f := range fields {
		w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(f)))])
		w.Write(f)
	}
	return w.Flush()
}

var errBadFrame = errors.New("malformed frame")

// readFrame reads one frame and returns its fields. io.EOF means the peer
// closed the stream between frames.
func readFrame(r *bufio.Reader) ([][]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes is larger than %d", n, maxFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("frame of %d bytes: %w", n, err)
	}
	var fields [][]byte
	for len(buf) > 0 {
		l, k := binary.Uvarint(buf)
		if k <= 0 || l > uint64(len(buf)-k) {
			return nil, errBadFrame
		}
		fields = append(fields, buf[k:k+int(l)])
		buf = buf[k+int(l):]
	}
	return fields, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

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
	fields := [][]byte{u64(id), {byte(r.Status)}, []byte(r.Text), []byte(r.NewSender)}
	for _, f := range r.Forward {
		fields = append(fields, []byte(f))
	}
	return fields
}

func decodeResponse(fields [][]byte) (uint64, *Response, error) {
	if len(fields) < 4 || len(fields[1]) != 1 {
		return 0, nil, errBadFrame
	}
	id, ok := getU64(fields[0])
	if !ok {
		return 0, nil, errBadFrame
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
