package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func controlDirs(t *testing.T, from, to map[string]string) (string, string) {
	t.Helper()
	base := t.TempDir()
	fromDir, toDir := filepath.Join(base, "qmail", "control"), filepath.Join(base, "root", "control")
	for dir, files := range map[string]map[string]string{fromDir: from, toDir: to} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return fromDir, toDir
}

func actions(p *ControlPlan) map[string]ControlFile {
	out := map[string]ControlFile{}
	for _, f := range p.Files {
		out[f.Name] = f
	}
	return out
}

func TestControlPlanSaysWhatBecomesOfEachFile(t *testing.T) {
	from, to := controlDirs(t, map[string]string{
		"me":                "mail.example.org\n",
		"locals":            "example.org\n",
		"virtualdomains":    "virtual.example.org:joe\n",
		"concurrencyremote": "40\n",
		"morercpthosts.cdb": "compiled",
		"clientcert.pem":    "x",
		"percenthack":       "example.org\n",
		"whatever":          "x",
		"locals~":           "x",
	}, map[string]string{
		"me":     "mail.example.org\n",
		"locals": "localhost\n",
	})
	plan, err := PlanControl(from, to)
	if err != nil {
		t.Fatal(err)
	}
	got := actions(plan)
	for name, want := range map[string]ControlAction{
		"me": ControlSame, "locals": ControlConflict, "virtualdomains": ControlCopy,
		"concurrencyremote": ControlCopy, "morercpthosts.cdb": ControlIgnore,
		"clientcert.pem": ControlIgnore, "percenthack": ControlIgnore,
		"whatever": ControlIgnore, "locals~": ControlIgnore,
	} {
		if got[name].Action != want {
			t.Errorf("%s: %v (%s), want %v", name, got[name].Action, got[name].Reason, want)
		}
	}
	if r := got["morercpthosts.cdb"].Reason; !strings.Contains(r, "text file morercpthosts") {
		t.Errorf("morercpthosts.cdb reason %q should suggest the text file", r)
	}
	if r := got["locals"].Reason; !strings.Contains(r, filepath.Join(to, "locals")) {
		t.Errorf("the conflict should name the root's file: %q", r)
	}
}

func TestControlRefusesAConflictWithoutForceAndCopiesNothing(t *testing.T) {
	from, to := controlDirs(t, map[string]string{
		"me":        "mail.example.org\n",
		"databytes": "1000000\n",
	}, map[string]string{"me": "localhost\n"})
	plan, err := PlanControl(from, to)
	if err != nil {
		t.Fatal(err)
	}
	_, err = plan.Apply(false)
	var refused *ControlRefused
	if !errors.As(err, &refused) || len(refused.Conflicts) != 1 || !strings.Contains(err.Error(), "me: ") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Apply without force = %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, "databytes")); err == nil {
		t.Error("databytes was copied although the step was refused")
	}
	copied, err := plan.Apply(true)
	if err != nil || len(copied) != 2 {
		t.Fatalf("Apply with force = %v, %v", copied, err)
	}
	if b, _ := os.ReadFile(filepath.Join(to, "me")); string(b) != "mail.example.org\n" {
		t.Errorf("me = %q after --force", b)
	}
	again, _ := PlanControl(from, to)
	if again.Count(ControlSame) != 2 || again.Count(ControlCopy)+again.Count(ControlConflict) != 0 {
		t.Errorf("after the copy: %+v", again.Files)
	}
}

func TestControlReportsABrokenFileWithItsLine(t *testing.T) {
	from, to := controlDirs(t, map[string]string{
		"rcpthosts":  "example.org\nbad host\n",
		"databytes":  "20abc\n",
		"smtproutes": "example.org:relay.example.net\n",
	}, nil)
	plan, err := PlanControl(from, to)
	if err != nil {
		t.Fatal(err)
	}
	got := actions(plan)
	if f := got["rcpthosts"]; f.Action != ControlInvalid || !strings.Contains(f.Reason, "line 2") {
		t.Errorf("rcpthosts: %v %q, want invalid at line 2", f.Action, f.Reason)
	}
	if f := got["databytes"]; f.Action != ControlInvalid || !strings.Contains(f.Reason, "20abc") {
		t.Errorf("databytes: %v %q", f.Action, f.Reason)
	}
	if _, err := plan.Apply(true); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("Apply with an invalid file = %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, "smtproutes")); err == nil {
		t.Error("a valid file was copied beside an invalid one")
	}
}

func TestControlKeepsTheRootsFilesQmailHasNot(t *testing.T) {
	from, to := controlDirs(t, map[string]string{"me": "mail.example.org\n"}, map[string]string{"rcpthosts": "localhost\n"})
	plan, err := PlanControl(from, to)
	if err != nil {
		t.Fatal(err)
	}
	if f := actions(plan)["rcpthosts"]; f.Action != ControlKept || !strings.Contains(f.Reason, "accepts every recipient") {
		t.Errorf("rcpthosts: %v %q", f.Action, f.Reason)
	}
}
