package smtp

import (
	"bufio"
	"bytes"
	"io"
)

// The DATA stream, byte by byte, as RFC 5321 section 4.1.1.4 and
// qmail-smtpd read it, with one difference: a CR that no LF follows is
// refused like a bare LF, wherever it is, right after a line's leading
// dot too. qmail keeps a lone CR; gqmail refuses it because a CR means a
// line end to some software and not to other, which is how messages are
// smuggled past filters.
//
//	state      byte   next       stored form
//	lineStart  "."    dot        (the dot is dropped: unstuffing)
//	lineStart  CR     cr
//	lineStart  LF     -          bare LF: 451, hang up
//	lineStart  other  text       the byte
//	dot        CR     dotCR
//	dot        LF     -          bare LF
//	dot        other  text       the byte (the dot stays dropped)
//	dotCR      LF     -          end of data
//	dotCR      other  -          bare CR: 451, hang up
//	text       CR     cr
//	text       LF     -          bare LF
//	text       other  text       the byte
//	cr         LF     lineStart  LF
//	cr         other  -          bare CR
//
// The data starts in lineStart, so "." CR LF right after DATA is an empty
// message. A bare line end is answered at once, and the connection closed,
// as qmail does: nothing after it is read, so nothing after it can be
// taken for a command.
type dataState uint8

const (
	lineStart dataState = iota
	dot
	dotCR
	text
	cr
)

// readData reads the data from r up to and including the end of data, and
// no further, so that pipelined commands after it stay in r. It stops
// early, without an error, at a bare CR or LF (m says which). An error is
// the connection's.
func readData(r *bufio.Reader, m *messageWriter) error {
	state := lineStart
	for {
		// Work on what is buffered, waiting only when nothing is.
		n := max(r.Buffered(), 1)
		p, err := r.Peek(n)
		if len(p) == 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		used, done := 0, false
		for used < len(p) && !done {
			switch state {
			case text:
				k := bytes.IndexAny(p[used:], "\r\n")
				if k < 0 {
					m.write(p[used:])
					used = len(p)
					continue
				}
				m.write(p[used : used+k])
				used += k
				if p[used] == '\n' {
					m.bareLF, done = true, true
				} else {
					state = cr
				}
				used++
			case lineStart:
				switch c := p[used]; c {
				case '.':
					state = dot
				case '\r':
					state = cr
				case '\n':
					m.bareLF, done = true, true
				default:
					m.write(p[used : used+1])
					state = text
				}
				used++
			case dot:
				switch c := p[used]; c {
				case '\r':
					state = dotCR
				case '\n':
					m.bareLF, done = true, true
				default:
					m.write(p[used : used+1])
					state = text
				}
				used++
			case dotCR:
				if p[used] == '\n' {
					done = true
				} else {
					m.bareCR, done = true, true
				}
				used++
			case cr:
				if p[used] == '\n' {
					m.write(p[used : used+1])
					state = lineStart
				} else {
					m.bareCR, done = true, true
				}
				used++
			}
		}
		r.Discard(used)
		if done {
			return nil
		}
	}
}

// hopLimit is qmail-smtpd's: 100 Received or Delivered header lines make
// a message a loop.
const hopLimit = 100

// messageWriter takes the stored form of the data (LF line ends) and
// writes it into the draft, noting on the way what qmail-smtpd refuses:
//
//   - more than limit bytes of data (the Received line not counted):
//     552; the rest is read to the end of data and thrown away rather
//     than kept;
//   - 100 or more header lines starting "Received" or "Delivered" (any
//     case): a mail loop, 554;
//   - a bare CR or LF (set by readData): 451.
type messageWriter struct {
	w     *bufio.Writer
	limit int64

	size    int64 // data bytes, counted against limit
	written int64 // bytes written to the draft, Received line included
	tooBig  bool
	bareLF  bool
	bareCR  bool
	hops    int

	inHeader bool
	// line holds the start of the current header line, enough to
	// recognise "received" and "delivered".
	line []byte

	// With captureFrom set, the bodies of the From: fields are kept in
	// from, unfolded, at most maxFromBytes in all (fromOverflow says a
	// field was longer), for the sender check of authenticated clients.
	captureFrom  bool
	from         [][]byte
	inFrom       bool
	fromOverflow bool
	fromSize     int
	// inName is set while a field's name is read; name holds its start.
	inName bool
	name   []byte
}

// maxFromBytes bounds the From: fields kept for the sender check.
const maxFromBytes = 8 << 10

// fromFields returns the From: fields' bodies.
func (m *messageWriter) fromFields() []string {
	out := make([]string, len(m.from))
	for i, f := range m.from {
		out[i] = string(f)
	}
	return out
}

func newMessageWriter(draft io.Writer, limit int64) *messageWriter {
	return &messageWriter{w: bufio.NewWriterSize(draft, 32<<10), limit: limit, inHeader: true, line: make([]byte, 0, 10)}
}

// writeHeader writes a trace line of the server's own, not counted as
// data.
func (m *messageWriter) writeHeader(s string) {
	m.w.WriteString(s)
	m.written += int64(len(s))
}

// write takes bytes of the stored form.
func (m *messageWriter) write(p []byte) {
	if m.inHeader {
		m.header(p)
	}
	m.size += int64(len(p))
	if m.size > m.limit {
		m.tooBig = true
		return
	}
	m.w.Write(p)
	m.written += int64(len(p))
}

// header counts hop lines in p, part of the header, and keeps the From:
// fields when asked to.
func (m *messageWriter) header(p []byte) {
	for _, c := range p {
		if !m.inHeader {
			return
		}
		if c == '\n' {
			if len(m.line) == 0 {
				m.inHeader = false
				m.inFrom = false
			}
			m.line = m.line[:0]
			continue
		}
		if m.captureFrom && !m.fromOverflow && !m.tooBig {
			m.fromByte(c)
		}
		if len(m.line) < 9 {
			m.line = append(m.line, c)
			if isHop(m.line) {
				m.hops++
				// Make the line longer than any prefix so it counts once.
				m.line = append(m.line, make([]byte, 10-len(m.line))...)
			}
		}
	}
}

// fromByte follows the From: fields. A line that starts with a space or
// tab continues the field before; any other line starts a field, whose
// name runs to the first ':' (RFC 5322's obsolete syntax allows spaces and
// tabs before it, so "From :" is a From field too). The bodies of From
// fields are kept; each field costs fieldCost bytes of maxFromBytes
// besides its body, so that empty fields are bounded too.
func (m *messageWriter) fromByte(c byte) {
	atLineStart := len(m.line) == 0
	switch {
	case atLineStart && (c == ' ' || c == '\t'):
		// A continuation: the field goes on, if it was a From.
	case atLineStart:
		m.inFrom, m.inName = false, true
		m.name = m.name[:0]
	}
	if m.inName {
		if c != ':' {
			if len(m.name) < maxFieldName {
				m.name = append(m.name, c)
			}
			return
		}
		m.inName = false
		if !bytes.EqualFold(bytes.TrimRight(m.name, " \t"), []byte("from")) {
			return
		}
		if m.fromSize += fieldCost; m.fromSize > maxFromBytes || len(m.from) >= maxFromFields {
			m.fromOverflow = true
			return
		}
		m.inFrom = true
		m.from = append(m.from, nil)
		return
	}
	if !m.inFrom {
		return
	}
	if m.fromSize >= maxFromBytes {
		m.fromOverflow = true
		m.inFrom = false
		return
	}
	m.fromSize++
	if c == '\t' {
		c = ' '
	}
	m.from[len(m.from)-1] = append(m.from[len(m.from)-1], c)
}

// The bounds of the From capture: a field name longer than maxFieldName
// is not "from"; each field costs fieldCost on top of its body; at most
// maxFromFields fields are kept.
const (
	maxFieldName  = 16
	fieldCost     = 64
	maxFromFields = 16
)

func isHop(line []byte) bool {
	return (len(line) == 8 && bytes.EqualFold(line, []byte("received"))) ||
		(len(line) == 9 && bytes.EqualFold(line, []byte("delivered")))
}

// flush writes what is buffered into the draft and returns the first
// error the draft gave.
func (m *messageWriter) flush() error { return m.w.Flush() }
