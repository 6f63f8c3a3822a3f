package sendmail

import (
	"errors"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// An address list is parsed into tokens as RFC 822 has them, tolerantly
// as qmail-inject's token822 does: a route address ("Name <box@host>"), a
// bare address with comments ("box@host (Name)"), groups ("list: a, b;"),
// and addresses written side by side without their comma ("djb fred" is
// two). Each address is rewritten in place and the field written again;
// phrases and comments are kept as they were.

type tokenKind int

const (
	tokAtom    tokenKind = iota // a run of atom characters
	tokQuoted                   // "..." with its quotes and escapes
	tokComment                  // (...) with its parentheses
	tokLiteral                  // [...] with its brackets
	tokSpecial                  // one of < > @ , ; : .
)

type token struct {
	kind  tokenKind
	text  string
	space bool // white space came before it
}

var errUnbalanced = errors.New("unbalanced quote, comment, bracket or angle bracket")

func tokenize(s string) ([]token, error) {
	var toks []token
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			space = true
			i++
			continue
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, errUnbalanced
			}
			toks = append(toks, token{tokQuoted, s[i : j+1], space})
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
				return nil, errUnbalanced
			}
			toks = append(toks, token{tokComment, s[i : j+1], space})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, errUnbalanced
			}
			toks = append(toks, token{tokLiteral, s[i : i+j+1], space})
			i += j + 1
		case strings.IndexByte("<>@,;:.", c) >= 0:
			toks = append(toks, token{tokSpecial, string(c), space})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\n\r\"()[]<>@,;:.", s[j]) < 0 {
				j++
			}
			toks = append(toks, token{tokAtom, s[i:j], space})
			i = j
		}
		space = false
	}
	return toks, nil
}

// word is true for the tokens an address is made of, besides . and @.
func (t token) word() bool { return t.kind == tokAtom || t.kind == tokQuoted || t.kind == tokLiteral }

func (t token) is(s string) bool { return t.kind == tokSpecial && t.text == s }

// addrList is a parsed address list: what to write back, with a hole
// for each address, and the addresses.
type addrList struct {
	parts []string // text, with "\x00" where an address goes
	addrs []string // the addresses, unquoted
}

// errNUL refuses a field holding a NUL, which marks an address's place in
// parts.
var errNUL = errors.New("a NUL byte in an address field")

// parseAddrList parses a field value.
func parseAddrList(value string) (*addrList, error) {
	if strings.ContainsRune(value, 0) {
		return nil, errNUL
	}
	toks, err := tokenize(value)
	if err != nil {
		return nil, err
	}
	l := &addrList{}
	var element []token
	flush := func() error {
		if len(element) > 0 {
			if err := l.element(element); err != nil {
				return err
			}
		}
		element = element[:0]
		return nil
	}
	angle := false
	for i, t := range toks {
		switch {
		case t.is("<"):
			if angle {
				return nil, errUnbalanced
			}
			angle = true
		case t.is(">"):
			if !angle {
				return nil, errUnbalanced
			}
			angle = false
		case !angle && t.is(","):
			if err := flush(); err != nil {
				return nil, err
			}
			l.parts = append(l.parts, ",")
			continue
		case !angle && t.is(":") && groupStart(toks[:i]):
			// A group's name: written as it was.
			l.parts = append(l.parts, render(element)+":")
			element = element[:0]
			continue
		case !angle && t.is(";"):
			if err := flush(); err != nil {
				return nil, err
			}
			l.parts = append(l.parts, ";")
			continue
		}
		element = append(element, t)
	}
	if angle {
		return nil, errUnbalanced
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return l, nil
}

// groupStart reports whether a ":" after toks (since the last "," or ";")
// names a group: only words and comments came before it, no "@" or "<".
func groupStart(toks []token) bool {
	for i := len(toks) - 1; i >= 0; i-- {
		t := toks[i]
		if t.is(",") || t.is(";") {
			return true
		}
		if t.kind == tokSpecial && !t.is(".") {
			return false
		}
	}
	return true
}

// element parses one mailbox, or several written without commas.
func (l *addrList) element(toks []token) error {
	for i, t := range toks {
		if t.is("<") {
			end := i + 1
			for end < len(toks) && !toks[end].is(">") {
				end++
			}
			if end == len(toks) {
				return errUnbalanced
			}
			phrase := render(toks[:i])
			if phrase != "" {
				phrase += " "
			}
			l.parts = append(l.parts, phrase+"<\x00>"+renderSpaced(toks[end+1:]))
			l.addrs = append(l.addrs, addrOf(toks[i+1:end]))
			return nil
		}
	}
	// Bare addresses: a new one starts where a word follows a word with
	// only white space between (an illegal space, taken as a comma).
	var cur, comments []token
	first := true
	emit := func() {
		if len(cur) == 0 {
			if len(comments) > 0 {
				l.parts = append(l.parts, render(comments))
			}
			comments = nil
			return
		}
		sep := ""
		if !first {
			sep = ","
		}
		first = false
		l.parts = append(l.parts, sep+"\x00"+renderSpaced(comments))
		l.addrs = append(l.addrs, addrOf(cur))
		cur, comments = nil, nil
	}
	for _, t := range toks {
		if t.kind == tokComment {
			comments = append(comments, t)
			continue
		}
		if len(cur) > 0 && t.word() && cur[len(cur)-1].word() {
			emit()
		}
		cur = append(cur, t)
	}
	emit()
	return nil
}

// addrOf spells an address from its tokens, unquoting its local part as
// qmail does internally ("a b"@c is the address a b@c).
func addrOf(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		switch t.kind {
		case tokComment:
		case tokQuoted:
			b.WriteString(unquote(t.text))
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

func unquote(q string) string {
	var b strings.Builder
	for i := 1; i < len(q)-1; i++ {
		if q[i] == '\\' && i+1 < len(q)-1 {
			i++
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// render writes tokens back, one space where there was white space.
func render(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.space {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// renderSpaced is render with a space before the first token, if any.
func renderSpaced(toks []token) string {
	if len(toks) == 0 {
		return ""
	}
	return " " + render(toks)
}

// write gives the field's value with each address replaced by fn of it,
// quoted as an SMTP path would be, folded near 80 columns.
func (l *addrList) write(fn func(string) string) string {
	var out strings.Builder
	col := 0
	k := 0
	for _, p := range l.parts {
		piece := p
		if strings.Contains(p, "\x00") {
			piece = strings.Replace(p, "\x00", address.Quote(fn(l.addrs[k])), 1)
			k++
		}
		switch {
		case piece == "," || piece == ";":
			out.WriteString(piece)
			col++
			continue
		case strings.HasPrefix(piece, ","):
			out.WriteString(",")
			piece = piece[1:]
		}
		if col > 0 && col+1+len(piece) > 78 {
			out.WriteString("\n ")
			col = 1
		}
		out.WriteByte(' ')
		out.WriteString(piece)
		col += 1 + len(piece)
	}
	return out.String()
}
