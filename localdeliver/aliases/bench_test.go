package aliases

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
)

// benchFile is an aliases file of n aliases: lists with continuation
// lines, programs and owners, files, and plain forwards.
func benchFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# generated\n")
	for i := 0; i < n; i++ {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "list%d: user%d, user%d@example.org,\n\tuser%d, \"|/usr/bin/logger -t list%d\"\n", i, i, i+1, i+2, i)
		case 1:
			fmt.Fprintf(&b, "owner-list%d: admin%d\n", i-1, i)
		case 2:
			fmt.Fprintf(&b, "file%d: /var/mail/archive%d\n", i, i)
		default:
			fmt.Fprintf(&b, "alias%d: person%d@example.com\n", i, i)
		}
	}
	return b.Bytes()
}

// BenchmarkImport100k parses and writes a table of 100,000 aliases.
func BenchmarkImport100k(b *testing.B) {
	src := benchFile(100000)
	path := filepath.Join(b.TempDir(), "aliases.db")
	b.ResetTimer()
	for range b.N {
		p, err := ParseFile(bytes.NewReader(src), "aliases", Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteTable(path, p); err != nil {
			b.Fatal(err)
		}
	}
}
