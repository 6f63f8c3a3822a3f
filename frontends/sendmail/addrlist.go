package sendmail

import (
	"errors"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// An address list is parsed into tokens as RFC 822 has them
// (address.Tokenize), tolerantly as qmail-inject's token822 does: a route address ("Name <box@host>"), a
// bare address with comments ("box@host (Name)"), groups ("list: a, b;"),
// and addresses written side by side without their comma ("djb fred" is
// two). Each address is rewritten in place and the field written again;
// phrases and comments are kept as they were.

// addrList is a parsed address list: what to write back, with a hole
// for each address, and the addresses.
type addrList struct {
	parts []string // text, with "\x00" where an address goes
	addrs []string // the addresses, unquoted
}

// errNUL refuses a field holding a NUL, which marks an address's place in
// parts.
var errNUL = errors.New("a NUL byte in an address field")

// errAngle refuses a < left open, a > that closes nothing, or a < inside
// another.
var errAngle = errors.New("an unclosed or stray angle bracket")

// parseAddrList parses a field value.
func parseAddrList(value string) (*addrList, error) {
	if strings.ContainsRune(value, 0) {
		return nil, errNUL
	}
	toks, err := address.Tokenize(value)
	if err != nil {
		return nil, err
	}
	l := &addrList{}
	var element []address.Token
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
		case t.Is("<"):
			if angle {
				return nil, errAngle
			}
			angle = true
		case t.Is(">"):
			if !angle {
				return nil, errAngle
			}
			angle = false
		case !angle && t.Is(","):
			if err := flush(); err != nil {
				return nil, err
			}
			l.parts = append(l.parts, ",")
			continue
		case !angle && t.Is(":") && groupStart(toks[:i]):
			// A group's name: written as it was.
			l.parts = append(l.parts, render(element)+":")
			element = element[:0]
			continue
		case !angle && t.Is(";"):
			if err := flush(); err != nil {
				return nil, err
			}
			l.parts = append(l.parts, ";")
			continue
		}
		element = append(element, t)
	}
	if angle {
		return nil, errAngle
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for _, a := range l.addrs {
		if err := writable(a); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// errLineEnd refuses an address holding a CR or LF (a backslash can escape
// one): written back into the field, it would end the header there.
var errLineEnd = errors.New("a line end inside an address")

// errDomain refuses a domain holding a byte that is special in a header
// (a backslash can escape one in an atom): written back unquoted, as
// domains are, it would read as more than one address.
var errDomain = errors.New("a special character in an address's domain")

// writable reports whether a can be written back into the field as one
// address: Quote quotes its local part, but leaves the domain as it is.
func writable(a string) error {
	if strings.ContainsAny(a, "\r\n") {
		return errLineEnd
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return nil
	}
	domain := a[at+1:]
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		return nil // a literal, written as it was read
	}
	if strings.ContainsAny(domain, " \t\"(),:;<>@[\\]") {
		return errDomain
	}
	return nil
}

// groupStart reports whether a ":" after toks (since the last "," or ";")
// names a group: only words and comments came before it, no "@" or "<".
func groupStart(toks []address.Token) bool {
	for i := len(toks) - 1; i >= 0; i-- {
		t := toks[i]
		if t.Is(",") || t.Is(";") {
			return true
		}
		if t.Kind == address.TokenSpecial && !t.Is(".") {
			return false
		}
	}
	return true
}

// element parses one mailbox, or several written without commas.
func (l *addrList) element(toks []address.Token) error {
	for i, t := range toks {
		if t.Is("<") {
			end := i + 1
			for end < len(toks) && !toks[end].Is(">") {
				end++
			}
			if end == len(toks) {
				return errAngle
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
	var cur, comments []address.Token
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
		if t.Kind == address.TokenComment {
			comments = append(comments, t)
			continue
		}
		if len(cur) > 0 && t.Word() && cur[len(cur)-1].Word() {
			emit()
		}
		cur = append(cur, t)
	}
	emit()
	return nil
}

// addrOf spells an address from its tokens, unquoting its local part as
// qmail does internally ("a b"@c is the address a b@c).
func addrOf(toks []address.Token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.Value)
	}
	return b.String()
}

// render writes tokens back, one space where there was white space.
func render(toks []address.Token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.Space {
			b.WriteByte(' ')
		}
		b.WriteString(t.Text)
	}
	return b.String()
}

// renderSpaced is render with a space before the first token, if any.
func renderSpaced(toks []address.Token) string {
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
