package dotforward

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// MaxSize bounds a .forward file; a larger one is refused.
const MaxSize = 1 << 20

// Kind is the kind of one .forward entry.
type Kind int

const (
	Forward Kind = iota + 1 // an address, qualified
	Program                 // "|command"
	File                    // "/path"
	Self                    // the user's own name: deliver to me
)

// String names the kind in error messages.
func (k Kind) String() string {
	switch k {
	case Forward:
		return "forward"
	case Program:
		return "program"
	case File:
		return "file"
	case Self:
		return "self"
	}
	return "unknown"
}

// Entry is one address of a .forward file.
type Entry struct {
	Kind Kind
	// Value is the qualified address (Forward), the command without
	// its "|" (Program), the path (File), or "" (Self).
	Value string
	Line  int // 1-based line number
}

// Owner says whose .forward it is, so that Parse can tell "deliver to
// me" from a forward.
type Owner struct {
	User string // $USER: the account's name
	// IsHost reports whether a domain is the user's own ($HOST in
	// dot-forward); nil means none is.
	IsHost func(domain string) bool
}

// Errors for bad lines, in LineError.Err.
var (
	ErrInclude = errors.New(":include: is not supported")
	ErrSyntax  = errors.New("an unclosed quote, comment, domain literal or angle bracket")
	ErrNUL     = errors.New("a NUL byte")
)

// LineError is one line that does not parse.
type LineError struct {
	Line int
	Text string // the line, without its newline
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %v: %q", e.Line, e.Err, e.Text)
}

func (e *LineError) Unwrap() error { return e.Err }

// Errors is every bad line of a file, in order.
type Errors []*LineError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Parse reads the contents of a .forward file (see the package doc) and
// returns its entries in order. When some lines do not parse, it returns
// the entries of the others and an Errors listing every bad line.
func Parse(contents []byte, who Owner, q address.Qualifier) ([]Entry, error) {
	var (
		entries []Entry
		errs    Errors
	)
	for n := 1; len(contents) > 0; n++ {
		line := contents
		if i := bytes.IndexByte(contents, '\n'); i >= 0 {
			line, contents = contents[:i], contents[i+1:]
		} else {
			contents = nil
		}
		if len(line) > 0 && line[0] == '#' {
			continue
		}
		es, err := parseLine(string(line), n, who, q)
		if err != nil {
			errs = append(errs, &LineError{Line: n, Text: string(line), Err: err})
			continue
		}
		entries = append(entries, es...)
	}
	if len(errs) > 0 {
		return entries, errs
	}
	return entries, nil
}

func parseLine(line string, n int, who Owner, q address.Qualifier) ([]Entry, error) {
	if strings.IndexByte(line, 0) >= 0 {
		return nil, ErrNUL
	}
	toks, err := address.Tokenize(line)
	if err != nil {
		return nil, ErrSyntax
	}
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].Is(":") && toks[i+1].Kind == address.TokenAtom && strings.EqualFold(toks[i+1].Text, "include") && toks[i+2].Is(":") {
			return nil, ErrInclude
		}
	}
	var (
		addrs    [][]address.Token
		cur      []address.Token
		prevWord bool
		// phrase is where the words that a route address would take
		// as its phrase begin in addrs: after the last , : ; or >.
		phrase int
	)
	flush := func() {
		if len(cur) > 0 {
			addrs = append(addrs, cur)
		}
		cur, prevWord = nil, false
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.Is(","):
			flush()
			phrase = len(addrs)
		case t.Is(":"), t.Is(";"):
			// Ignored, as dot-forward ignores them, but a phrase
			// does not reach back over them.
			flush()
			phrase = len(addrs)
		case t.Kind == address.TokenComment:
		case t.Is("<"):
			// A route address: the words before it are its phrase.
			cur, addrs = nil, addrs[:phrase]
			j := i + 1
			var inner []address.Token
			for ; j < len(toks) && !toks[j].Is(">"); j++ {
				if toks[j].Is("<") {
					return nil, ErrSyntax
				}
				if toks[j].Kind != address.TokenComment {
					inner = append(inner, toks[j])
				}
			}
			if j == len(toks) {
				return nil, ErrSyntax
			}
			cur = inner
			flush()
			phrase = len(addrs)
			i = j
		case t.Is(">"):
			return nil, ErrSyntax
		case t.Word():
			if prevWord {
				flush()
			}
			cur = append(cur, t)
			prevWord = true
		default: // @ and .
			cur = append(cur, t)
			prevWord = false
		}
	}
	flush()
	var entries []Entry
	for _, a := range addrs {
		if e, ok := classify(a, who, q); ok {
			e.Line = n
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// classify is dot-forward's gotaddr for one address.
func classify(toks []address.Token, who Owner, q address.Qualifier) (Entry, bool) {
	var b strings.Builder
	hasAt := false
	for _, t := range toks {
		if t.Is("@") {
			hasAt = true
		}
		b.WriteString(t.Value)
	}
	a := b.String()
	switch {
	case a == "":
		return Entry{}, false
	case !hasAt && strings.EqualFold(a, who.User):
		return Entry{Kind: Self}, true
	case hasAt && who.IsHost != nil:
		at := strings.LastIndexByte(a, '@')
		if strings.EqualFold(a[:at], who.User) && who.IsHost(a[at+1:]) {
			return Entry{Kind: Self}, true
		}
	case !hasAt && a[0] == '/':
		return Entry{Kind: File, Value: a}, true
	case !hasAt && a[0] == '|':
		return Entry{Kind: Program, Value: a[1:]}, true
	}
	if a = q.Qualify(a); a == "" {
		return Entry{}, false
	}
	return Entry{Kind: Forward, Value: a}, true
}
