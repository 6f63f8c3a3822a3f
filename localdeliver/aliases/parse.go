package aliases

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gqmail/gqmail/internal/lineerr"
)

// Kind says what a recipient is; its value is the first byte of the
// .qmail line it becomes.
type Kind byte

const (
	Address Kind = '&'
	Program Kind = '|'
	File    Kind = '/'
	Include Kind = ':'
)

// Target is one recipient of an alias.
type Target struct {
	Kind Kind `json:"k"`
	// Value is the address (without a leading "\"), the command (without
	// the "|"), the path, or the include file's path.
	Value string `json:"v"`
	// NoExpand is a "\local" address.
	NoExpand bool `json:"n,omitempty"`
	// Targets are, for an Include, the recipients the file held at import.
	Targets []Target `json:"t,omitempty"`
}

// Alias is one alias of the file.
type Alias struct {
	// Name is the alias name as written.
	Name string `json:"name"`
	// Line is the line it starts on.
	Line int `json:"line"`
	// Owner is the name of the owner-NAME alias, when the file has one.
	Owner   string   `json:"owner,omitempty"`
	Targets []Target `json:"targets"`
}

// IncludeFile is what the import recorded of an :include: file.
type IncludeFile struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	SHA256  string    `json:"sha256"`
}

// Parsed is a whole aliases file, checked.
type Parsed struct {
	// Aliases are in file order.
	Aliases []Alias
	// Includes are the include files read, in the order first named.
	Includes []IncludeFile
}

// Limits and texts. The reasons are stable: tests and administrators'
// scripts may match them.
const (
	maxAddress = 800
	// maxForwardBytes keeps one alias's forwards inside what a delivery
	// child may answer (1 MiB, with its report), counting 8 bytes of
	// framing for each address and 64 more for the domain an address
	// without one gets.
	maxForwardBytes = 900 << 10
)

const (
	reasonNUL          = "NUL byte in line"
	reasonCR           = "carriage return in line: file has DOS line ends?"
	reasonContinuation = "continuation line with no line before it"
	reasonNoColon      = `no ":" after the alias name`
	reasonEmptyName    = "empty alias name"
	reasonBadName      = "bad alias name: white space, control character, quote, comma, bracket, or a leading | / \\ :"
	reasonNoTargets    = "alias has no recipients"
	reasonQuote        = "unterminated quoted string"
	reasonComment      = `unterminated "(" comment`
	reasonAngle        = `unterminated "<"`
	reasonBadAddress   = "bad address: white space or control character"
	reasonLongAddress  = "address longer than 800 bytes"
	reasonEmptyLocal   = `address with an empty local part`
	reasonEmptyProgram = "empty program"
	reasonBadProgram   = "control character in program"
	reasonFileRelative = "file is not an absolute path"
	reasonFileDir      = `file ends in "/": sendmail appends to files only`
	reasonBadFile      = "control character in file name"
	reasonInclRelative = ":include: path is not absolute"
	reasonInclNested   = ":include: inside an :include: file"
	reasonTooMany      = "forwards more than 900 KiB of addresses, more than one delivery may answer: split the list"
)

// Error lists every bad line of an aliases file, in file order (a line
// with more than one fault once for each, in the order found). Its Name
// is the file's name as given to ParseFile; a line's Text is the logical
// line (continuations joined), cut to its first 80 bytes. Its message is
// lineerr's: one line a bad line, "<name> line N: <reason>: <text quoted
// with %q>", the first 100 of them, then "... and N more".
type Error struct{ lineerr.List }

// Options are ParseFile's dependencies.
type Options struct {
	// ReadInclude reads an include file and says who owns it and its
	// mode; ReadIncludeFile when nil. Tests give their own.
	ReadInclude func(path string) (data []byte, info IncludeInfo, err error)
}

// logical is one logical line and the number of its first physical line.
type logical struct {
	line int
	text string
}

// ParseFile reads an aliases file and checks it whole (see the package
// doc). It returns every alias, or an *Error listing every bad line; an
// error reading r is returned wrapped with name instead.
func ParseFile(r io.Reader, name string, opts Options) (*Parsed, error) {
	read := opts.ReadInclude
	if read == nil {
		read = ReadIncludeFile
	}
	var (
		bad   []lineerr.Line
		lines []logical
		cur   *logical
		n     int
	)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		raw, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %w", name, n+1, err)
		}
		if len(raw) == 0 && err == io.EOF {
			break
		}
		n++
		s := string(bytes.TrimSuffix(raw, []byte{'\n'}))
		switch {
		case strings.IndexByte(s, 0) >= 0:
			bad = append(bad, lineerr.Line{Line: n, Reason: reasonNUL, Text: lineerr.Cut(s)})
			s = unreadable(s, &cur)
		case strings.IndexByte(s, '\r') >= 0:
			bad = append(bad, lineerr.Line{Line: n, Reason: reasonCR, Text: lineerr.Cut(s)})
			s = unreadable(s, &cur)
		}
		switch {
		case strings.TrimLeft(s, " \t") == "" && (s == "" || cur == nil):
			// An empty line is skipped and ends nothing.
		case s[0] == ' ' || s[0] == '\t':
			if cur == nil {
				bad = append(bad, lineerr.Line{Line: n, Reason: reasonContinuation, Text: lineerr.Cut(s)})
			} else {
				cur.text += s
			}
		default:
			lines = append(lines, logical{line: n, text: s})
			cur = &lines[len(lines)-1]
		}
		if err == io.EOF {
			break
		}
	}

	p := &Parsed{}
	seen := map[string]int{} // key → index in p.Aliases
	var texts []string       // each alias's logical line, for reports
	incl := &includes{read: read, byPath: map[string]*includeResult{}}
	for _, l := range lines {
		if l.text[0] == '#' {
			continue
		}
		a, reason := parseAlias(l, incl)
		if reason != "" {
			bad = append(bad, lineerr.Line{Line: l.line, Reason: reason, Text: lineerr.Cut(l.text)})
			continue
		}
		k := key(a.Name)
		if i, dup := seen[k]; dup {
			bad = append(bad, lineerr.Line{Line: l.line, Reason: fmt.Sprintf("duplicate alias %q: first defined on line %d", a.Name, p.Aliases[i].Line), Text: lineerr.Cut(l.text)})
			continue
		}
		seen[k] = len(p.Aliases)
		p.Aliases = append(p.Aliases, a)
		texts = append(texts, lineerr.Cut(l.text))
	}
	for i := range p.Aliases {
		a := &p.Aliases[i]
		if j, ok := seen[ownerKey(a.Name)]; ok {
			a.Owner = p.Aliases[j].Name
		}
		if forwardBytes(a.Targets) > maxForwardBytes {
			bad = append(bad, lineerr.Line{Line: a.Line, Reason: reasonTooMany, Text: texts[i]})
		}
	}
	bad = append(bad, loops(p.Aliases, texts, seen)...)
	if len(bad) > 0 {
		sortLines(bad)
		return nil, &Error{lineerr.List{Name: name, Lines: bad}}
	}
	p.Includes = incl.files
	return p, nil
}

// unreadable drops a bad line; when it starts a logical line, its
// continuations go with it rather than onto the line before.
func unreadable(s string, cur **logical) string {
	if s != "" && s[0] != ' ' && s[0] != '\t' {
		*cur = &logical{}
	}
	return ""
}

// key is the table's key for an alias name: lowercased, and a bare local
// part gets the "@" of "at every domain".
func key(name string) string {
	k := strings.ToLower(name)
	if !strings.Contains(k, "@") {
		k += "@"
	}
	return k
}

// ownerKey is the key of NAME's owner alias, owner-NAME.
func ownerKey(name string) string {
	if strings.HasPrefix(name, "@") {
		return "" // a catch-all has no owner
	}
	return "owner-" + key(name)
}

func parseAlias(l logical, incl *includes) (Alias, string) {
	colon := strings.IndexByte(l.text, ':')
	if colon < 0 {
		return Alias{}, reasonNoColon
	}
	name := strings.TrimRight(l.text[:colon], " \t")
	if name == "" {
		return Alias{}, reasonEmptyName
	}
	if !goodName(name) {
		return Alias{}, reasonBadName
	}
	targets, reason := parseRecipients(l.text[colon+1:], incl, true)
	if reason != "" {
		return Alias{}, reason
	}
	if len(targets) == 0 {
		return Alias{}, reasonNoTargets
	}
	return Alias{Name: name, Line: l.line, Targets: targets}, ""
}

func goodName(name string) bool {
	if len(name) > maxAddress || strings.ContainsAny(name[:1], `|/\:`) || strings.Count(name, "@") > 1 || strings.HasSuffix(name, "@") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte(`"(),<>;[]`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseRecipients splits a recipient list at its top-level commas and
// parses each one. allowInclude is false inside an include file.
func parseRecipients(s string, incl *includes, allowInclude bool) ([]Target, string) {
	items, reason := splitRecipients(s)
	if reason != "" {
		return nil, reason
	}
	var out []Target
	for _, it := range items {
		t, reason := parseRecipient(it)
		if reason != "" {
			return nil, reason
		}
		if t.Kind == 0 {
			continue // empty
		}
		if t.Kind == Include {
			if !allowInclude {
				return nil, reasonInclNested
			}
			if reason := incl.expand(&t); reason != "" {
				return nil, reason
			}
		}
		out = append(out, t)
	}
	return out, ""
}

// item is one recipient as written: its text with comments dropped, and
// whether it was one quoted string (then text is the string's contents).
type item struct {
	text   string
	quoted bool
}

// splitRecipients splits s at commas outside quotes, comments and angle
// brackets, drops comments, and takes the address out of "Name <addr>".
func splitRecipients(s string) ([]item, string) {
	var (
		out     []item
		b       strings.Builder
		unq     strings.Builder // the contents of the quoted strings
		quotes  int             // quoted strings in this item
		other   bool            // bytes outside quotes (not space)
		angle   = -1            // where "<" started in b
		addr    string
		hasAddr bool
	)
	flush := func() {
		it := item{text: strings.TrimSpace(b.String())}
		switch {
		case hasAddr:
			it.text = strings.TrimSpace(addr)
			if len(it.text) >= 2 && it.text[0] == '"' && it.text[len(it.text)-1] == '"' && quotes == 1 {
				it.text, it.quoted = unq.String(), true
			}
		case quotes == 1 && !other:
			it.text, it.quoted = unq.String(), true
		}
		out = append(out, it)
		b.Reset()
		unq.Reset()
		quotes, other, angle, addr, hasAddr = 0, false, -1, "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			quotes++
			b.WriteByte(c)
			for i++; ; i++ {
				if i >= len(s) {
					return nil, reasonQuote
				}
				if s[i] == '\\' && i+1 < len(s) {
					i++
					b.WriteByte('\\')
					b.WriteByte(s[i])
					unq.WriteByte(s[i])
					continue
				}
				b.WriteByte(s[i])
				if s[i] == '"' {
					break
				}
				unq.WriteByte(s[i])
			}
		case '(':
			depth := 1
			for i++; depth > 0; i++ {
				if i >= len(s) {
					return nil, reasonComment
				}
				switch s[i] {
				case '\\':
					i++
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			i--
			b.WriteByte(' ')
		case '<':
			if angle >= 0 {
				return nil, reasonAngle
			}
			angle = b.Len()
			b.WriteByte(c)
			other = true
		case '>':
			if angle < 0 {
				b.WriteByte(c)
				other = true
				continue
			}
			addr, hasAddr = b.String()[angle+1:], true
			angle = -1
			b.WriteByte(c)
		case ',':
			if angle >= 0 {
				b.WriteByte(c)
				continue
			}
			flush()
		default:
			if c != ' ' && c != '\t' {
				other = true
			}
			b.WriteByte(c)
		}
	}
	if angle >= 0 {
		return nil, reasonAngle
	}
	flush()
	return out, ""
}

// parseRecipient classifies one recipient. An empty one gives a Target
// of kind 0.
func parseRecipient(it item) (Target, string) {
	s := it.text
	if !it.quoted {
		s = strings.TrimSpace(s)
	}
	s = strings.TrimRight(s, " \t")
	switch {
	case s == "":
		return Target{}, ""
	case s[0] == '|':
		cmd := strings.TrimSpace(s[1:])
		if cmd == "" {
			return Target{}, reasonEmptyProgram
		}
		if hasControl(cmd, true) {
			return Target{}, reasonBadProgram
		}
		return Target{Kind: Program, Value: cmd}, ""
	case s[0] == '/':
		if strings.HasSuffix(s, "/") {
			return Target{}, reasonFileDir
		}
		if hasControl(s, false) {
			return Target{}, reasonBadFile
		}
		return Target{Kind: File, Value: s}, ""
	case len(s) >= 9 && strings.EqualFold(s[:9], ":include:"):
		path := strings.TrimSpace(s[9:])
		if !strings.HasPrefix(path, "/") {
			return Target{}, reasonInclRelative
		}
		if hasControl(path, false) {
			return Target{}, reasonBadFile
		}
		return Target{Kind: Include, Value: path}, ""
	}
	t := Target{Kind: Address, Value: s}
	if s[0] == '\\' {
		t.Value, t.NoExpand = s[1:], true
	}
	switch {
	case len(t.Value) > maxAddress:
		return Target{}, reasonLongAddress
	case t.Value == "" || strings.HasPrefix(t.Value, "@"):
		return Target{}, reasonEmptyLocal
	case strings.ContainsFunc(t.Value, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return Target{}, reasonBadAddress
	}
	return t, ""
}

// hasControl says whether s holds a control byte; a tab is allowed in a
// program.
func hasControl(s string, tabOK bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && !(tabOK && c == '\t')) || c == 0x7f {
			return true
		}
	}
	return false
}

// includes reads each include file once.
type includes struct {
	read   func(string) ([]byte, IncludeInfo, error)
	byPath map[string]*includeResult
	files  []IncludeFile
}

type includeResult struct {
	targets []Target
	reason  string
}

// expand fills t's Targets from its file, or says why it cannot.
func (in *includes) expand(t *Target) string {
	r := in.byPath[t.Value]
	if r == nil {
		r = in.load(t.Value)
		in.byPath[t.Value] = r
	}
	t.Targets = r.targets
	return r.reason
}

func (in *includes) load(path string) *includeResult {
	data, info, err := in.read(path)
	if err != nil {
		return &includeResult{reason: fmt.Sprintf(":include: %s: %v", path, unwrapPath(err))}
	}
	if reason := includeReadable(path, info); reason != "" {
		return &includeResult{reason: reason}
	}
	var targets []Target
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, " \t")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		var reason string
		switch {
		case strings.IndexByte(line, 0) >= 0:
			reason = reasonNUL
		case strings.IndexByte(line, '\r') >= 0:
			reason = reasonCR
		}
		var ts []Target
		if reason == "" {
			ts, reason = parseRecipients(line, in, false)
		}
		if reason != "" {
			return &includeResult{reason: fmt.Sprintf(":include: %s line %d: %s", path, i+1, reason)}
		}
		targets = append(targets, ts...)
	}
	if runsSomething(targets) {
		if reason := includeTrusted(path, info); reason != "" {
			return &includeResult{reason: reason}
		}
	}
	in.files = append(in.files, IncludeFile{Path: path, Size: int64(len(data)), ModTime: info.ModTime, SHA256: hashOf(data)})
	return &includeResult{targets: targets}
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// forwardBytes is how many bytes of addresses the alias's delivery
// forwards at most.
func forwardBytes(ts []Target) int {
	n := 0
	for _, t := range ts {
		switch t.Kind {
		case Address:
			n += len(t.Value) + 8
			if !strings.Contains(t.Value, "@") {
				n += 64 // the domain it gets
			}
		case Include:
			n += forwardBytes(t.Targets)
		}
	}
	return n
}

// loops finds every alias that reaches itself through the file's aliases,
// once per cycle, reported at the line of the alias the search entered it
// by.
func loops(as []Alias, texts []string, index map[string]int) []lineerr.Line {
	const (
		white = iota
		grey
		black
	)
	color := make([]byte, len(as))
	var (
		bad   []lineerr.Line
		stack []int
		visit func(i int)
	)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for _, j := range edges(as[i].Targets, index) {
			switch color[j] {
			case white:
				visit(j)
			case grey:
				start := len(stack) - 1
				for stack[start] != j {
					start--
				}
				var names []string
				for _, k := range stack[start:] {
					names = append(names, as[k].Name)
				}
				names = append(names, as[j].Name)
				bad = append(bad, lineerr.Line{Line: as[j].Line, Reason: "alias loop: " + strings.Join(names, " -> "), Text: texts[j]})
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range as {
		if color[i] == white {
			visit(i)
		}
	}
	return bad
}

// edges are the aliases a target list names, in order, each once.
func edges(ts []Target, index map[string]int) []int {
	var out []int
	seen := map[int]bool{}
	var walk func([]Target)
	walk = func(ts []Target) {
		for _, t := range ts {
			switch {
			case t.Kind == Include:
				walk(t.Targets)
			case t.Kind == Address && !t.NoExpand:
				if j, ok := index[key(t.Value)]; ok && !seen[j] {
					seen[j] = true
					out = append(out, j)
				}
			}
		}
	}
	walk(ts)
	return out
}

func sortLines(ls []lineerr.Line) {
	// Stable: a line's reasons keep the order they were found in.
	slices.SortStableFunc(ls, func(a, b lineerr.Line) int { return a.Line - b.Line })
}
