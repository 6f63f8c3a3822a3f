package frame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	in := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("x"), 300), U64(42)}
	if err := Write(w, in...); err != nil {
		t.Fatal(err)
	}
	if err := Write(w); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	out, err := Read(r)
	if err != nil || len(out) != len(in) {
		t.Fatalf("Read = %d fields, %v", len(out), err)
	}
	for i := range in {
		if !bytes.Equal(in[i], out[i]) {
			t.Fatalf("field %d = %q, want %q", i, out[i], in[i])
		}
	}
	if v, ok := GetU64(out[3]); !ok || v != 42 {
		t.Fatalf("GetU64 = %d, %v", v, ok)
	}
	if out, err := Read(r); err != nil || len(out) != 0 {
		t.Fatalf("empty frame: %v, %v", out, err)
	}
	if _, err := Read(r); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestHostileFramesAreRefused(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, Max+1)
	if _, err := Read(bufio.NewReader(bytes.NewReader(huge))); err == nil {
		t.Fatal("accepted a frame larger than Max")
	}
	bad := append(binary.BigEndian.AppendUint32(nil, 2), 5, 'x')
	if _, err := Read(bufio.NewReader(bytes.NewReader(bad))); err != ErrMalformed {
		t.Fatalf("field longer than the frame: %v", err)
	}
	short := append(binary.BigEndian.AppendUint32(nil, 10), 1, 'x')
	if _, err := Read(bufio.NewReader(bytes.NewReader(short))); err == nil {
		t.Fatal("accepted a truncated frame")
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 1, 'x'})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := Read(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(bufio.NewWriter(&buf), fields...); err != nil {
			t.Fatal(err)
		}
		again, err := Read(bufio.NewReader(&buf))
		if err != nil || len(again) != len(fields) {
			t.Fatalf("re-read: %d fields, %v; wrote %d", len(again), err, len(fields))
		}
		for i := range fields {
			if !bytes.Equal(again[i], fields[i]) {
				t.Fatalf("field %d came back as %q, was %q", i, again[i], fields[i])
			}
		}
	})
}

// A header that claims a huge frame followed by a few bytes must fail on
// the short read without allocating the claimed size.
func TestShortFrameDoesNotAllocateItsClaim(t *testing.T) {
	data := []byte{0x40, 0, 0, 0, 1, 'x'} // claims 1 GiB
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	_, err := Read(bufio.NewReader(bytes.NewReader(data)))
	runtime.ReadMemStats(&ms)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read of a truncated frame: %v, want unexpected EOF", err)
	}
	if got := ms.TotalAlloc - before; got > 1<<20 {
		t.Errorf("a truncated frame claiming 1 GiB allocated %d bytes", got)
	}
}

func TestLargeFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB, several growth steps
	var buf bytes.Buffer
	if err := Write(bufio.NewWriter(&buf), []byte("a"), big); err != nil {
		t.Fatal(err)
	}
	fields, err := Read(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 2 || !bytes.Equal(fields[1], big) {
		t.Fatalf("got %d fields, second of %d bytes", len(fields), len(fields[1]))
	}
}
