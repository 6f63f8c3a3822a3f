package dotqmail

// UsesDefault reports whether the delivery runs defaultDelivery instead of
// t's contents: no file was found for a user's own address (dash ""), or
// the file found is empty.
func (t Target) UsesDefault() bool {
	return len(t.Contents) == 0
}

// Instructions is what qmail-local runs for t: a missing file for an
// extension address (dash non-empty) bounces; a missing file for a user's
// own address, or an empty one, is defaultDelivery, whatever the x bit
// said; anything else is the file's lines, checked against forward-only
// mode before anything is delivered.
func (t Target) Instructions(dash, defaultDelivery string) ([]Instruction, error) {
	if t.Name == "" && dash != "" {
		return nil, NoMailbox()
	}
	contents, xBit := t.Contents, t.ForwardOnly
	if t.UsesDefault() {
		contents, xBit = []byte(defaultDelivery+"\n"), false
	}
	instrs, _, err := Parse(contents)
	if err != nil {
		return nil, err
	}
	if err := CheckForwardOnly(instrs, xBit); err != nil {
		return nil, err
	}
	return instrs, nil
}
