package address

// Lower lowercases ASCII letters only, as qmail does everywhere it
// compares names: other bytes, UTF-8 included, are left alone, so byte
// offsets in the result are offsets in the original.
func Lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
