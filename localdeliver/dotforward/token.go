package dotforward

import "strings"

// The tokens of RFC 822 as qmail's token822 reads them.
type tokenKind int

const (
	tokAtom    tokenKind = iota // a run of atom bytes, backslash escapes removed
	tokQuoted                   // "...": value without quotes and escapes
	tokLiteral                  // [...]: value as written
	tokComment                  // (...)
	tokAt                       // @
	tokDot                      // .
	tokComma                    // ,
	tokColon                    // :
	tokSemi                     // ;
	tokLeft                     // <
	tokRight                    // >
)

type token struct {
	kind  tokenKind
	text  string // as written
	value string // what it adds to an address
}

var specials = map[byte]tokenKind{'@': tokAt, '.': tokDot, ',': tokComma, ':': tokColon, ';': tokSemi, '<': tokLeft, '>': tokRight}

func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
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
				return nil, ErrSyntax
			}
			toks = append(toks, token{tokQuoted, s[i : j+1], v.String()})
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
				return nil, ErrSyntax
			}
			toks = append(toks, token{tokComment, s[i : j+1], ""})
			i = j + 1
		case c == '[':
			j := i + 1
			for ; j < len(s) && s[j] != ']'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, ErrSyntax
			}
			toks = append(toks, token{tokLiteral, s[i : j+1], s[i : j+1]})
			i = j + 1
		case c == ')' || c == ']':
			return nil, ErrSyntax
		default:
			if k, ok := specials[c]; ok {
				toks = append(toks, token{k, s[i : i+1], s[i : i+1]})
				i++
				continue
			}
			var v strings.Builder
			j := i
			for ; j < len(s) && !strings.ContainsRune(" \t\r\n\"()[]<>@.,:;", rune(s[j])); j++ {
				if s[j] == '\\' {
					if j+1 == len(s) {
						return nil, ErrSyntax
					}
					j++
				}
				v.WriteByte(s[j])
			}
			toks = append(toks, token{tokAtom, s[i:j], v.String()})
			i = j
		}
	}
	return toks, nil
}
