package control

import (
	"errors"
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// BadMailFrom is the parsed badmailfrom file. It is never modified once
// built. A nil *BadMailFrom refuses nobody.
type BadMailFrom struct {
	m map[string]struct{} // lowercased entries
}

// Matches reports whether the envelope sender is refused: the whole sender is
// listed, or "@" and the text after its last '@' is. Case is ignored. The
// empty (bounce) sender is never listed, since entries cannot be empty.
func (b *BadMailFrom) Matches(sender string) bool {
	if b == nil || sender == "" {
		return false
	}
	sender = address.Lower(sender)
	if _, ok := b.m[sender]; ok {
		return true
	}
	if at := strings.LastIndexByte(sender, '@'); at >= 0 {
		_, ok := b.m[sender[at:]]
		return ok
	}
	return false
}

// Len returns the number of entries.
func (b *BadMailFrom) Len() int {
	if b == nil {
		return 0
	}
	return len(b.m)
}

func parseBadMailFrom(data []byte) (*BadMailFrom, *FileError) {
	m := map[string]struct{}{}
	err := eachEntry(data, func(s string) error {
		if s == "@" {
			return errors.New(`"@" without a domain`)
		}
		m[address.Lower(s)] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &BadMailFrom{m: m}, nil
}
