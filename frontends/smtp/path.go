package smtp

import "strings"

// maxAddress is qmail-smtpd's bound: a parsed address of 900 bytes or
// more is a syntax error.
const maxAddress = 900

// parsePath reads the address of a MAIL or RCPT argument as qmail-smtpd's
// addrparse does, and the ESMTP parameters after it:
//
//   - with a "<", the address is what follows it up to an unquoted ">";
//     without one, it is what follows the first ":" (spaces skipped) up to
//     an unquoted space. The "FROM:" or "TO:" keyword is not checked;
//   - a leading source route ("@a,@b:") is dropped;
//   - double quotes are removed and backslash escapes resolved;
//   - the parameters are the words after the closing ">", KEY=VALUE or
//     KEY, keys in upper case.
//
// It refuses (ok false) an address of 900 bytes or more, as qmail does,
// and, unlike qmail, one holding a CR, LF or NUL, which no mailbox name
// has and which would end up in header lines.
func parsePath(arg string) (addr string, params map[string]string, ok bool) {
	terminator := byte('>')
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		arg = arg[i+1:]
	} else {
		terminator = ' '
		if i := strings.IndexByte(arg, ':'); i >= 0 {
			arg = arg[i+1:]
		}
		arg = strings.TrimLeft(arg, " ")
	}
	if strings.HasPrefix(arg, "@") {
		if i := strings.IndexByte(arg, ':'); i >= 0 {
			arg = arg[i+1:]
		} else {
			arg = ""
		}
	}
	var b strings.Builder
	esc, quoted := false, false
	i := 0
	for ; i < len(arg); i++ {
		c := arg[i]
		if esc {
			b.WriteByte(c)
			esc = false
			continue
		}
		if !quoted && c == terminator {
			break
		}
		switch c {
		case '\\':
			esc = true
		case '"':
			quoted = !quoted
		default:
			b.WriteByte(c)
		}
	}
	addr = b.String()
	if len(addr) >= maxAddress || strings.ContainsAny(addr, "\r\n\x00") {
		return "", nil, false
	}
	if terminator == '>' && i < len(arg) {
		for _, w := range strings.Fields(arg[i+1:]) {
			k, v, _ := strings.Cut(w, "=")
			if params == nil {
				params = map[string]string{}
			}
			params[strings.ToUpper(k)] = v
		}
	}
	return addr, params, true
}
