package smtp

import (
	"bytes"
	"io"
)

// messageReader turns the DATA stream that go-smtp hands over (dot
// unstuffing done, CRLF line ends kept) into the stored form: LF line
// ends. On the way it notes what qmail-smtpd refuses, and it always reads
// on to the end of the data before anyone answers: stopping early would
// leave the rest of the message to be read as SMTP commands.
//
//   - a bare LF (not after a CR) or a bare CR (not before an LF): qmail
//     answers 451 and drops the connection;
//   - more than limit bytes after conversion: 552, the rest is read and
//     thrown away rather than held;
//   - 100 or more header lines starting "Received" or "Delivered"
//     (any case): a mail loop, 554.
type messageReader struct {
	limit int64

	buf      bytes.Buffer
	size     int64
	bareLF   bool
	bareCR   bool
	tooBig   bool
	hops     int
	inHeader bool
	// line holds the start of the current header line, enough to
	// recognise "received" and "delivered".
	line    []byte
	pending bool // a CR was the last byte seen
}

const hopLimit = 100

func newMessageReader(limit int64) *messageReader {
	return &messageReader{limit: limit, inHeader: true, line: make([]byte, 0, 9)}
}

// readFrom consumes r to its end.
func (m *messageReader) readFrom(r io.Reader) error {
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		m.write(chunk[:n])
		if err == io.EOF {
			if m.pending {
				m.bareCR = true
				m.emit('\r')
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (m *messageReader) write(p []byte) {
	for _, c := range p {
		if m.pending {
			m.pending = false
			if c == '\n' {
				m.emit('\n')
				continue
			}
			m.bareCR = true
			m.emit('\r')
		}
		switch c {
		case '\r':
			m.pending = true
		case '\n':
			m.bareLF = true
			m.emit('\n')
		default:
			m.emit(c)
		}
	}
}

// emit adds one byte of the stored form.
func (m *messageReader) emit(c byte) {
	m.size++
	if m.size > m.limit {
		m.tooBig = true
	} else {
		m.buf.WriteByte(c)
	}
	if !m.inHeader {
		return
	}
	if c == '\n' {
		if len(m.line) == 0 {
			m.inHeader = false
		}
		m.line = m.line[:0]
		return
	}
	if len(m.line) < 9 {
		m.line = append(m.line, c)
		if isHop(m.line) {
			m.hops++
			// Make the line longer than any prefix so it counts once.
			m.line = append(m.line, make([]byte, 9-len(m.line)+1)...)
		}
	}
}

func isHop(line []byte) bool {
	return (len(line) == 8 && bytes.EqualFold(line, []byte("received"))) ||
		(len(line) == 9 && bytes.EqualFold(line, []byte("delivered")))
}

// message returns the stored form, valid only if nothing was refused.
func (m *messageReader) message() []byte { return m.buf.Bytes() }
