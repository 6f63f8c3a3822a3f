package address

import (
	"errors"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	type tok struct {
		kind        TokenKind
		text, value string
		space       bool
	}
	for _, c := range []struct {
		in   string
		want []tok
	}{
		{"a@b.c", []tok{{TokenAtom, "a", "a", false}, {TokenSpecial, "@", "@", false}, {TokenAtom, "b", "b", false}, {TokenSpecial, ".", ".", false}, {TokenAtom, "c", "c", false}}},
		{`Fred "x \"y" <f@h> (a (nested) comment)`, []tok{
			{TokenAtom, "Fred", "Fred", false}, {TokenQuoted, `"x \"y"`, `x "y`, true},
			{TokenSpecial, "<", "<", true}, {TokenAtom, "f", "f", false}, {TokenSpecial, "@", "@", false}, {TokenAtom, "h", "h", false}, {TokenSpecial, ">", ">", false},
			{TokenComment, "(a (nested) comment)", "", true}}},
		{`a\ b@[1.2.3.4]`, []tok{{TokenAtom, `a\ b`, "a b", false}, {TokenSpecial, "@", "@", false}, {TokenLiteral, "[1.2.3.4]", "[1.2.3.4]", false}}},
		{"list: x ,y;", []tok{{TokenAtom, "list", "list", false}, {TokenSpecial, ":", ":", false}, {TokenAtom, "x", "x", true}, {TokenSpecial, ",", ",", true}, {TokenAtom, "y", "y", false}, {TokenSpecial, ";", ";", false}}},
		{" \t\r\n", nil},
		// ) and ] end no atom, as in qmail's token822.
		{"a)b@c]", []tok{{TokenAtom, "a)b", "a)b", false}, {TokenSpecial, "@", "@", false}, {TokenAtom, "c]", "c]", false}}},
	} {
		got, err := Tokenize(c.in)
		if err != nil {
			t.Errorf("Tokenize(%q): %v", c.in, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("Tokenize(%q) = %d tokens %+v, want %d", c.in, len(got), got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if g := got[i]; g.Kind != w.kind || g.Text != w.text || g.Value != w.value || g.Space != w.space {
				t.Errorf("Tokenize(%q)[%d] = %+v, want %+v", c.in, i, g, w)
			}
		}
	}
}

func TestTokenizeRefusesWhatIsLeftOpen(t *testing.T) {
	for _, in := range []string{`"open`, `"ends in \`, `(open (nested)`, `(ends in \`, `[1.2.3.4`, `[ends in \`,
		`a ] b`, `a )`, `ends in \`, `)`} {
		if toks, err := Tokenize(in); !errors.Is(err, ErrUnbalanced) {
			t.Errorf("Tokenize(%q) = %+v, %v; want ErrUnbalanced", in, toks, err)
		}
	}
}

// FuzzTokenize checks the tokens against the input itself: each token's
// text stands in the input in order, with only white space between, and
// has its kind's form.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{`Fred "x \"y" <f@h> (c (d))`, `a\ b@[1.\]2]`, "list: x ,y;", `a) b`, `"\`, "(\\", "é@ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := Tokenize(s)
		if err != nil {
			return
		}
		pos := 0
		for i, tk := range toks {
			space := false
			for pos < len(s) && strings.IndexByte(" \t\r\n", s[pos]) >= 0 {
				pos, space = pos+1, true
			}
			if !strings.HasPrefix(s[pos:], tk.Text) || tk.Text == "" {
				t.Fatalf("token %d %+v does not stand at offset %d of %q", i, tk, pos, s)
			}
			if tk.Space != space {
				t.Fatalf("token %d %+v: Space is %v, the input says %v", i, tk, tk.Space, space)
			}
			pos += len(tk.Text)
			first, last := tk.Text[0], tk.Text[len(tk.Text)-1]
			switch tk.Kind {
			case TokenQuoted:
				if first != '"' || last != '"' || len(tk.Text) < 2 {
					t.Fatalf("quoted token %q", tk.Text)
				}
			case TokenComment:
				if first != '(' || last != ')' || tk.Value != "" {
					t.Fatalf("comment token %+v", tk)
				}
			case TokenLiteral:
				if first != '[' || last != ']' || tk.Value != tk.Text {
					t.Fatalf("literal token %+v", tk)
				}
			case TokenSpecial:
				if len(tk.Text) != 1 || !strings.Contains("@.,:;<>", tk.Text) {
					t.Fatalf("special token %q", tk.Text)
				}
			case TokenAtom:
				if strings.Count(tk.Text, `\`) == 0 && (tk.Value != tk.Text || strings.ContainsAny(tk.Text, atomEnds) || strings.ContainsAny(tk.Text[:1], ")]")) {
					t.Fatalf("atom token %+v", tk)
				}
			}
			if next := pos; i+1 < len(toks) && !toks[i+1].Space && next < len(s) && tk.Kind == TokenAtom && toks[i+1].Kind == TokenAtom {
				t.Fatalf("two atoms %q and %q with nothing between", tk.Text, toks[i+1].Text)
			}
		}
		if strings.Trim(s[pos:], " \t\r\n") != "" {
			t.Fatalf("input left after the last token: %q", s[pos:])
		}
	})
}
