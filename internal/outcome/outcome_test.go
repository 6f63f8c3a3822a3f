package outcome

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestClassification(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		permanent bool
		text      string
	}{
		{"a permanent error is permanent", Permanent("Sorry, no mailbox here by that name. (#5.1.1)"), true, "Sorry, no mailbox here by that name. (#5.1.1)"},
		{"a temporary error is not", Temporary("Unable to chdir to maildir. (#4.2.1)"), false, "Unable to chdir to maildir. (#4.2.1)"},
		{"a wrapped permanent error stays permanent", fmt.Errorf("delivery 3: %w", Permanent("bad")), true, "bad"},
		{"a plain error counts as temporary", errors.New("disk on fire"), false, "disk on fire"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := IsPermanent(c.err); got != c.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, c.permanent)
			}
			if got := Text(c.err); got != c.text {
				t.Errorf("Text = %q, want %q", got, c.text)
			}
		})
	}
}

func TestCauseIsReachable(t *testing.T) {
	err := TemporaryErr(fs.ErrPermission, "Unable to open %s: %v. (#4.2.1)", "Mailbox", fs.ErrPermission)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("errors.Is(%v, ErrPermission) = false", err)
	}
	if IsPermanent(err) {
		t.Fatalf("a TemporaryErr must not be permanent")
	}
	if IsPermanent(nil) {
		t.Fatalf("nil must not be permanent")
	}
}

// The letters go out and come back as the same class and text.
func TestLettersRoundTrip(t *testing.T) {
	for _, err := range []error{nil, Temporary("later. (#4.3.0)"), Permanent("no. (#5.1.1)"), errors.New("plain errors are deferrals")} {
		back, ok := FromLetter(Letter(err), textOf(err))
		if !ok || Of(back) != Of(err) || (err != nil && Text(back) != Text(err)) {
			t.Errorf("%v: letter %c came back as %v (%v)", err, Letter(err), back, ok)
		}
	}
	if _, ok := FromLetter('X', ""); ok {
		t.Error("an unknown letter was taken")
	}
	if Of(nil).String() != "success" || Of(Temporary("x")).String() != "deferral" || Of(Permanent("x")).String() != "failure" {
		t.Error("classes do not name qmail-send's log words")
	}
}

func textOf(err error) string {
	if err == nil {
		return ""
	}
	return Text(err)
}
