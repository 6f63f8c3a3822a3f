package address

import (
	"errors"
	"strings"
)

// TokenKind says what a Token of an RFC 822 address list is.
type TokenKind int

const (
	TokenAtom    TokenKind = iota // a run of atom bytes
	TokenQuoted                   // "...", quotes included
	TokenComment                  // (...), parentheses included, nested
	TokenLiteral                  // [...], brackets included
	TokenSpecial                  // one of @ . , : ; < >
)

// Token is one token of an address list as qmail's token822 reads it.
type Token struct {
	Kind TokenKind
	// Text is the token as written.
	Text string
	// Value is what the token adds to an address: an atom or a quoted
	// string without its quotes and backslash escapes, a literal or a
	// special as written, nothing for a comment.
	Value string
	// Space is true when white space came before the token.
	Space bool
}

// Is reports whether t is the special s.
func (t Token) Is(s string) bool { return t.Kind == TokenSpecial && t.Text == s }

// Word reports whether t is one of the words an address is made of
// (besides its @ and dots): an atom, a quoted string or a literal.
func (t Token) Word() bool {
	return t.Kind == TokenAtom || t.Kind == TokenQuoted || t.Kind == TokenLiteral
}

// ErrUnbalanced is Tokenize's error: a quote, comment or domain literal
// left open, a token that starts with ) or ], or a backslash that ends
// the text.
var ErrUnbalanced = errors.New("an unclosed quote, comment or domain literal, or a stray ) or ]")

// atomEnds are the bytes that end an atom. As in qmail's token822, ) and
// ] do not: only a token cannot start with one.
const atomEnds = " \t\r\n\"([<>@.,:;"

// Tokenize splits an address list, a header field's value or a line of
// a .forward or aliases file, into tokens. White space separates tokens
// and is recorded only as Token.Space; a backslash quotes the byte after
// it in atoms, quoted strings, comments and literals.
func Tokenize(s string) ([]Token, error) {
	var toks []Token
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		var t Token
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
			continue
		case c == '"':
			var v strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					if j++; j == len(s) {
						break
					}
				}
				v.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, ErrUnbalanced
			}
			t = Token{Kind: TokenQuoted, Text: s[i : j+1], Value: v.String()}
			i = j + 1
		case c == '(':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if j >= len(s) {
				return nil, ErrUnbalanced
			}
			t = Token{Kind: TokenComment, Text: s[i : j+1]}
			i = j + 1
		case c == '[':
			j := i + 1
			for ; j < len(s) && s[j] != ']'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, ErrUnbalanced
			}
			t = Token{Kind: TokenLiteral, Text: s[i : j+1], Value: s[i : j+1]}
			i = j + 1
		case c == ')' || c == ']':
			return nil, ErrUnbalanced
		case strings.IndexByte("@.,:;<>", c) >= 0:
			t = Token{Kind: TokenSpecial, Text: s[i : i+1], Value: s[i : i+1]}
			i++
		default:
			var v strings.Builder
			j := i
			for ; j < len(s) && strings.IndexByte(atomEnds, s[j]) < 0; j++ {
				if s[j] == '\\' {
					if j+1 == len(s) {
						return nil, ErrUnbalanced
					}
					j++
				}
				v.WriteByte(s[j])
			}
			t = Token{Kind: TokenAtom, Text: s[i:j], Value: v.String()}
			i = j
		}
		t.Space = space
		space = false
		toks = append(toks, t)
	}
	return toks, nil
}
