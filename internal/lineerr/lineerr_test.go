package lineerr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// lines returns n bad lines, numbered from 1, and the message lines of
// the first m of them.
func lines(n, m int) ([]Line, string) {
	ls := make([]Line, n)
	var msg []string
	for i := range ls {
		ls[i] = Line{Line: i + 1, Reason: "bad", Text: "x"}
		if i < m {
			msg = append(msg, fmt.Sprintf("f line %d: bad: \"x\"", i+1))
		}
	}
	return ls, strings.Join(msg, "\n")
}

func TestListError(t *testing.T) {
	all, allMsg := lines(MaxListed, MaxListed)
	over, overMsg := lines(MaxListed+7, MaxListed)
	for _, tc := range []struct {
		name string
		list List
		want string
	}{
		{
			name: "each line gives the name, number, reason and quoted text",
			list: List{Name: "assign", Lines: []Line{
				{Line: 2, Reason: "empty line"},
				{Line: 5, Reason: "carriage return", Text: "=a:b\r"},
			}},
			want: "assign line 2: empty line: \"\"\nassign line 5: carriage return: \"=a:b\\r\"",
		},
		{
			name: "HideText leaves the text out",
			list: List{Name: "passwd-file", HideText: true, Lines: []Line{
				{Line: 3, Reason: "empty password field", Text: "hunter2"},
			}},
			want: "passwd-file line 3: empty password field",
		},
		{
			name: "the lines keep the order they are given in",
			list: List{Name: "f", Lines: []Line{{Line: 9, Reason: "a"}, {Line: 1, Reason: "b"}}},
			want: "f line 9: a: \"\"\nf line 1: b: \"\"",
		},
		{
			name: "exactly MaxListed lines are all listed, with no summary",
			list: List{Name: "f", Lines: all},
			want: allMsg,
		},
		{
			name: "past MaxListed a last line counts the rest",
			list: List{Name: "f", Lines: over},
			want: overMsg + "\n... and 7 more",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.list.Error(); got != tc.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestListKeepsEveryLineWhileTheMessageIsCut(t *testing.T) {
	ls, _ := lines(MaxListed+50, 0)
	l := List{Name: "f", Lines: ls}
	msg := strings.Split(l.Error(), "\n")
	if len(msg) != MaxListed+1 || msg[MaxListed-1] != `f line 100: bad: "x"` {
		t.Errorf("message has %d lines, line %d %q", len(msg), MaxListed, msg[MaxListed-1])
	}
	if len(l.Lines) != MaxListed+50 {
		t.Errorf("Error changed Lines: %d", len(l.Lines))
	}
}

func TestJoinOfNothingIsEmpty(t *testing.T) {
	if got := Join(0, func(int) string { panic("called") }); got != "" {
		t.Errorf("Join(0) = %q", got)
	}
}

func TestCutKeepsTheFirstMaxQuotedBytes(t *testing.T) {
	long := strings.Repeat("a", MaxQuoted) + "b"
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{long[:MaxQuoted], long[:MaxQuoted]},
		{long, long[:MaxQuoted]},
	} {
		if got := Cut(tc.in); got != tc.want {
			t.Errorf("Cut(%d bytes) = %d bytes, want %d", len(tc.in), len(got), len(tc.want))
		}
	}
}

func TestUnwrapGivesEachLineItsOwnError(t *testing.T) {
	for _, hide := range []bool{false, true} {
		e := &List{Name: "f", Lines: []Line{{Line: 2, Reason: "bad", Text: "secret"}, {Line: 5, Reason: "worse", Text: "x"}}, HideText: hide}
		errs := e.Unwrap()
		if len(errs) != 2 {
			t.Fatalf("Unwrap gave %d errors, want 2", len(errs))
		}
		lines := strings.Split(e.Error(), "\n")
		for i, err := range errs {
			var b *Bad
			if !errors.As(err, &b) || b.Line != e.Lines[i].Line || err.Error() != lines[i] {
				t.Errorf("HideText %v: error %d is %v (%T), want the report's line %q", hide, i, err, err, lines[i])
			}
			if hide && strings.Contains(err.Error(), e.Lines[i].Text) {
				t.Errorf("HideText: error %d quotes its line: %v", i, err)
			}
		}
	}
}
