package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gqmail/gqmail/internal/route"
)

// Records are a format byte followed by fields encoded as varints and
// length-prefixed byte strings. A new field means a new format byte; the
// decoder keeps reading every format it has ever written.
const (
	msgFormat1  byte = 1
	msgFormat2  byte = 2 // adds the body file's name
	rcptFormat1 byte = 1
	rcptFormat2 byte = 2 // adds flags (rcptHeld); written only when a flag is set
)

// Recipient record flags (format 2).
const rcptHeld = 1 << 0

var errShortRecord = errors.New("record ends early")

type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) string(s string)  { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) time(t time.Time) { e.varint(unixNano(t)) }

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time { return fromUnixNano(d.varint()) }

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShortRecord
	}
}

// unixNano maps the zero time to 0 so that "no time" survives a round trip.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func encodeEnvelope(e *Envelope) []byte {
	var enc encoder
	enc.byte(msgFormat2)
	enc.string(e.Sender)
	enc.string(e.Origin.Kind)
	enc.string(e.Origin.RemoteIP)
	enc.string(e.Origin.HELO)
	enc.varint(int64(e.Origin.UID))
	enc.time(e.Received)
	enc.varint(e.Size)
	enc.uvarint(uint64(e.Recipients))
	enc.uvarint(uint64(e.Open))
	enc.string(e.BodyFile)
	return enc.b
}

func decodeEnvelope(id MsgID, b []byte) (*Envelope, error) {
	d := decoder{b: b}
	format := d.byte()
	if d.err == nil && format != msgFormat1 && format != msgFormat2 {
		return nil, fmt.Errorf("message %d: unknown record format %d", id, format)
	}
	e := &Envelope{ID: id}
	e.Sender = d.string()
	e.Origin.Kind = d.string()
	e.Origin.RemoteIP = d.string()
	e.Origin.HELO = d.string()
	e.Origin.UID = int(d.varint())
	e.Received = d.time()
	e.Size = d.varint()
	e.Recipients = int(d.uvarint())
	e.Open = int(d.uvarint())
	if format >= msgFormat2 {
		e.BodyFile = d.string()
	}
	if d.err != nil {
		return nil, fmt.Errorf("message %d: %w", id, d.err)
	}
	return e, nil
}

func encodeRecipient(r *RecipientState) []byte {
	var enc encoder
	var flags uint64
	if r.Held {
		flags |= rcptHeld
	}
	if flags == 0 {
		enc.byte(rcptFormat1)
	} else {
		enc.byte(rcptFormat2)
	}
	enc.string(r.Address)
	enc.string(r.Deliver)
	enc.byte(byte(r.Channel))
	enc.byte(byte(r.State))
	enc.uvarint(uint64(r.Attempts))
	enc.time(r.Next)
	enc.string(r.LastText)
	if flags != 0 {
		enc.uvarint(flags)
	}
	return enc.b
}

func decodeRecipient(ref Ref, b []byte) (*RecipientState, error) {
	d := decoder{b: b}
	format := d.byte()
	if d.err == nil && format != rcptFormat1 && format != rcptFormat2 {
		return nil, fmt.Errorf("recipient %v: unknown record format %d", ref, format)
	}
	r := &RecipientState{Ref: ref}
	r.Address = d.string()
	r.Deliver = d.string()
	r.Channel = route.Channel(d.byte())
	r.State = State(d.byte())
	r.Attempts = int(d.uvarint())
	r.Next = d.time()
	r.LastText = d.string()
	if format >= rcptFormat2 {
		r.Held = d.uvarint()&rcptHeld != 0
	}
	if d.err != nil {
		return nil, fmt.Errorf("recipient %v: %w", ref, d.err)
	}
	return r, nil
}

// Keys.

func msgKey(id MsgID) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(id))
}

func rcptKey(ref Ref) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(ref.Msg))
	return binary.BigEndian.AppendUint32(k, ref.Index)
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func parseRcptKey(k []byte) (Ref, bool) {
	if len(k) != 12 {
		return Ref{}, false
	}
	return Ref{MsgID(binary.BigEndian.Uint64(k)), binary.BigEndian.Uint32(k[8:])}, true
}

// dueKey sorts by channel, then time. Times before 1970 are clamped to 0
// so that the unsigned order is the time order.
func dueKey(ch route.Channel, next time.Time, ref Ref) []byte {
	n := unixNano(next)
	if n < 0 {
		n = 0
	}
	k := make([]byte, 0, 21)
	k = append(k, byte(ch))
	k = binary.BigEndian.AppendUint64(k, uint64(n))
	k = binary.BigEndian.AppendUint64(k, uint64(ref.Msg))
	return binary.BigEndian.AppendUint32(k, ref.Index)
}

func parseDueKey(k []byte) (ch route.Channel, next time.Time, ref Ref, ok bool) {
	if len(k) != 21 {
		return 0, time.Time{}, Ref{}, false
	}
	ch = route.Channel(k[0])
	next = fromUnixNano(int64(binary.BigEndian.Uint64(k[1:9])))
	ref = Ref{MsgID(binary.BigEndian.Uint64(k[9:17])), binary.BigEndian.Uint32(k[17:])}
	return ch, next, ref, true
}

func bodyKey(id MsgID, chunk uint32) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(id))
	return binary.BigEndian.AppendUint32(k, chunk)
}
