package aliases

import (
	"bufio"
	"io"
	"strings"
)

// Lines returns what delivering to a's address at domain runs, as the
// contents of a .qmail file: "&address" for each address (qualified with
// domain when it has no "@"), "|command" for each program, "/path" for
// each file, an include file's recipients in its place; each line once,
// in order. The alias account's delivery child runs them as it runs its
// own .qmail lines.
func (a *Alias) Lines(domain string) []byte {
	var b strings.Builder
	seen := map[string]bool{}
	var walk func([]Target)
	walk = func(ts []Target) {
		for _, t := range ts {
			var line string
			switch t.Kind {
			case Include:
				walk(t.Targets)
				continue
			case Address:
				line = "&" + qualify(t.Value, domain)
			case Program:
				line = "|" + t.Value
			case File:
				line = t.Value
			}
			if !seen[line] {
				seen[line] = true
				b.WriteString(line)
				b.WriteByte('\n')
			}
		}
	}
	walk(a.Targets)
	return []byte(b.String())
}

// OwnerAddress is the address of a's owner for mail to a's address at
// domain, owner-NAME@domain; "" when a has no owner.
func (a *Alias) OwnerAddress(domain string) string {
	if a.Owner == "" {
		return ""
	}
	return qualify(a.Owner, domain)
}

// EnvelopeSender is the sender of mail expanded through an alias whose
// owner address is owner: the owner, unless there is none or sender is
// empty or "#@[]" (a bounce stays a bounce, so bounces never loop).
func EnvelopeSender(sender, owner string) string {
	if owner == "" || sender == "" || sender == "#@[]" {
		return sender
	}
	return owner
}

func qualify(addr, domain string) string {
	if strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + domain
}

// Format writes p in aliases syntax, one line per alias, include files
// as ":include:" lines (not their contents), such that ParseFile reads
// back the same aliases (but for their line numbers, when the original
// had comments or continuations).
func Format(w io.Writer, p *Parsed) error {
	bw := bufio.NewWriter(w)
	for _, a := range p.Aliases {
		bw.WriteString(a.Name)
		bw.WriteString(":")
		for i, t := range a.Targets {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte(' ')
			bw.WriteString(formatTarget(t))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func formatTarget(t Target) string {
	var s string
	switch t.Kind {
	case Address:
		s = t.Value
		if t.NoExpand {
			s = `\` + s
		}
	case Program:
		s = "|" + t.Value
	case File:
		s = t.Value
	case Include:
		s = ":include:" + t.Value
	}
	// Quoted when unquoted it would not read back the same: a special
	// byte, or white space at an end that the parser trims (Unicode's, as
	// strings.TrimSpace, so a no-break space too; found by FuzzParseFile).
	if strings.ContainsAny(s, ` ,"()<>\`+"\t") || strings.TrimSpace(s) != s {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s
}
