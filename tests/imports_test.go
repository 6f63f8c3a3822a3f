package tests

import (
	"debug/elf"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gqmail/gqmail/"

// layers is the import table of the README's code map: which of the
// module's layers each layer may import. Data flows one way: frontends →
// store → engine → localdeliver or remotedeliver → store.
var layers = map[string][]string{
	"internal":      {"internal"},
	"store":         {"internal"},
	"migrate":       {"internal", "store"},
	"localdeliver":  {"internal", "store", "localdeliver"},
	"remotedeliver": {"internal"},
	"engine":        {"internal", "store", "localdeliver", "remotedeliver"},
	"frontends":     {"internal", "store", "frontends"},
	"auth":          {"internal"},
	"fixtures":      {"internal", "fixtures"},
	"scripts":       {},
	"bench":         {},
	"cmd":           {"internal", "store", "migrate", "localdeliver", "remotedeliver", "engine", "frontends", "auth"},
}

// layerOf names the layer of a package of the module: its first path
// element under the module.
func layerOf(pkg string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(pkg, module), "/")
	return first
}

// No package imports one that the table does not allow: the rules hold
// for the code that ships (test files may import what they need).
func TestImportsFollowTheLayerTable(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from := layerOf(f[0])
		if from == "tests" {
			continue
		}
		allowed, ok := layers[from]
		if !ok {
			t.Errorf("package %s is in no layer of the table", f[0])
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			checked++
			to := layerOf(imp)
			ok := false
			for _, a := range allowed {
				ok = ok || a == to
			}
			if !ok {
				t.Errorf("%s imports %s: the %s layer may import only %v", strings.TrimPrefix(f[0], module), strings.TrimPrefix(imp, module), from, allowed)
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d imports checked; go list gave:\n%s", checked, out)
	}
}

// The commands every local program runs for each message (sendmail and
// the rest) use no package that needs cgo, so they link statically: a run
// then costs about 4.4 ms of CPU here instead of 6.6 ms (README, bench/).
// The daemon needs net and os/user (NSS), and stays as it is.
func TestInjectionCommandsNeedNoCgo(t *testing.T) {
	for _, cmd := range []string{"sendmail", "mailq", "qmail-inject", "qmail-queue", "forward"} {
		out, err := exec.Command("go", "list", "-deps", "../cmd/"+cmd).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "net" || dep == "os/user" || dep == "runtime/cgo" {
				t.Errorf("%s depends on %s, which needs cgo", cmd, dep)
			}
		}
		f, err := elf.Open(bin(cmd))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", bin(cmd))
			}
		}
		f.Close()
	}
}
