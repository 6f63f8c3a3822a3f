package route

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gqmail/gqmail/internal/control"
)

func TestRoute(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"me":             "mail.example.org\n",
		"locals":         "localhost\nexample.org\n",
		"virtualdomains": "virtual.example:joe\n.sub.example:sub\nexcept.sub.example:\n",
		"envnoathost":    "example.org\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &Router{Controls: control.Open(dir, nil)}
	cases := []struct {
		addr, deliver string
		ch            Channel
	}{
		{"u@localhost", "u@localhost", Local},
		{"u@Example.ORG", "u@Example.ORG", Local},
		{"postmaster", "postmaster@example.org", Local},
		{"info@virtual.example", "joe-info@virtual.example", Local},
		{"x@a.sub.example", "sub-x@a.sub.example", Local},
		{"x@except.sub.example", "x@except.sub.example", Remote},
		{"x@elsewhere.example", "x@elsewhere.example", Remote},
	}
	for _, c := range cases {
		got := r.Route(c.addr)
		if got.Deliver != c.deliver || got.Channel != c.ch {
			t.Errorf("Route(%q) = %+v; want deliver %q via %v", c.addr, got, c.deliver, c.ch)
		}
	}
	if !r.IsLocal("virtual.example") || r.IsLocal("elsewhere.example") {
		t.Error("IsLocal disagrees with Route")
	}
}
