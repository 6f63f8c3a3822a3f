package sendmail

import (
	"bufio"
	"io"
	"strings"
)

// field is one header field: its name as written and its value, with
// continuation lines joined by "\n" plus their leading white space.
type field struct {
	name  string
	value string
}

// key is the field name in lower case, for comparison.
func (f field) key() string { return strings.ToLower(f.name) }

// readHeader reads a message's header from r, as qmail-inject's
// headerbody does: fields and their continuation lines, up to the empty
// line. A line that is not a field (a name with a space, no colon) ends
// the header there: it is the first line of the body, as if an empty
// line came before it. The returned reader gives the body after the
// header.
func readHeader(r *bufio.Reader) ([]field, io.Reader, error) {
	var fields []field
	for {
		line, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
		if line == "" && err == io.EOF {
			return fields, strings.NewReader(""), nil
		}
		text := strings.TrimSuffix(line, "\n")
		switch {
		case text == "" || text == "\r":
			return fields, r, nil
		case (text[0] == ' ' || text[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1].value += "\n" + text
		default:
			name, value, ok := strings.Cut(text, ":")
			if !ok || !validFieldName(name) {
				// The body begins here.
				return fields, io.MultiReader(strings.NewReader(line), r), nil
			}
			fields = append(fields, field{name: name, value: value})
		}
		if err == io.EOF {
			return fields, strings.NewReader(""), nil
		}
	}
}

// validFieldName is RFC 822's: printable ASCII but the colon, no space.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// writeField writes one field; a value already holds its line breaks.
func writeField(w io.Writer, f field) {
	io.WriteString(w, f.name+":"+f.value+"\n")
}
