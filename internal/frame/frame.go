// Package frame is the framing that gqmail's processes speak over pipes
// and Unix sockets (daemon and delivery helper, helper and delivery
// children, sendmail and the daemon): a 4-byte big-endian length, then
// that many bytes holding a sequence of fields, each a uvarint length and
// its bytes. On a Unix socket (Conn) the top bit of the length says that
// one open descriptor travels with the frame.
//
// The first field of every frame between gqmail's processes is a tag
// naming the frame and its version ("deliver/1", "submit/1"); a peer that
// gets a tag it does not know says so, naming both, instead of reading
// the fields by position.
//
// Readers bound the frame size before they allocate: the helper reads
// frames from the unprivileged daemon, and the daemon reads frames from
// any local user, and both must survive anything they are sent.
package frame

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Max bounds one frame: the largest message plus room for its envelope.
const Max = 1<<30 + 1<<20

// ErrMalformed is returned for a frame whose fields do not add up.
var ErrMalformed = errors.New("malformed frame")

// Write writes one frame holding fields and flushes w.
func Write(w *bufio.Writer, fields ...[]byte) error {
	n, err := frameLen(fields)
	if err != nil {
		return err
	}
	return writeFrame(w, n, fields)
}

// frameLen is the length header's value for fields.
func frameLen(fields [][]byte) (uint32, error) {
	n := 0
	for _, f := range fields {
		n += uvarintLen(uint64(len(f))) + len(f)
	}
	if n > Max {
		return 0, fmt.Errorf("frame of %d bytes is larger than %d", n, Max)
	}
	return uint32(n), nil
}

func writeFrame(w *bufio.Writer, n uint32, fields [][]byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], n)
	w.Write(hdr[:])
	return writeFields(w, fields)
}

// writeFields writes the body of a frame and flushes w.
func writeFields(w *bufio.Writer, fields [][]byte) error {
	var lb [binary.MaxVarintLen64]byte
	for _, f := range fields {
		w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(f)))])
		w.Write(f)
	}
	return w.Flush()
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Read reads one frame and returns its fields, which share one buffer.
// io.EOF means the peer closed the stream between frames.
func Read(r *bufio.Reader) ([][]byte, error) { return ReadLimit(r, Max) }

// firstChunk is what readBody allocates before any of the body arrived.
const firstChunk = 64 << 10

// readBody reads n bytes. It grows its buffer as the bytes arrive, at most
// doubling it, so a header that claims a large frame and is followed by
// nothing costs a small allocation, not n bytes.
func readBody(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, firstChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		end := min(n, cap(buf))
		if _, err := io.ReadFull(r, buf[len(buf):end]); err != nil {
			return nil, err
		}
		buf = buf[:end]
	}
	return buf, nil
}

// ErrTooLarge is returned by ReadLimit for a frame over its limit.
var ErrTooLarge = errors.New("frame is too large")

// ReadLimit is Read with a smaller bound than Max.
func ReadLimit(r *bufio.Reader, limit int) ([][]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n&withFD != 0 {
		return nil, fmt.Errorf("%w: a frame claims a descriptor on a stream that carries none", ErrDescriptors)
	}
	return readFields(r, n, limit)
}

// readFields reads the n-byte body of a frame and splits it into fields.
func readFields(r io.Reader, n uint32, limit int) ([][]byte, error) {
	if int64(n) > int64(min(limit, Max)) {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, n, min(limit, Max))
	}
	buf, err := readBody(r, int(n))
	if err != nil {
		return nil, fmt.Errorf("frame of %d bytes: %w", n, err)
	}
	var fields [][]byte
	for len(buf) > 0 {
		l, k := binary.Uvarint(buf)
		if k <= 0 || l > uint64(len(buf)-k) {
			return nil, ErrMalformed
		}
		fields = append(fields, buf[k:k+int(l)])
		buf = buf[k+int(l):]
	}
	return fields, nil
}

// U64 encodes v as an 8-byte field.
func U64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// GetU64 decodes an 8-byte field.
func GetU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
