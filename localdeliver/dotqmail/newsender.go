package dotqmail

import (
	"strings"

	"github.com/gqmail/gqmail/internal/address"
)

// NewSender computes NEWSENDER, the envelope sender of forwarded copies, for
// the recipient local@domain (see the package doc): sender itself, unless it
// is neither "" nor "#@[]" and ".qmail"+dash+safeext+"-owner" exists; then
// "local-owner@domain", or "local-owner-@domain-@[]" when
// ".qmail"+dash+safeext+"-owner-default" exists too. As in Find, a name
// holding "/" is taken not to exist without asking fsys. The error is the
// temporary *outcome.Error for a stat that failed with a temporary error;
// the string is then "".
func NewSender(fsys FS, sender, local, domain, dash, ext string) (string, error) {
	if sender == "" || sender == "#@[]" {
		return sender, nil
	}
	owner := ".qmail" + dash + safeExt(ext) + "-owner"
	ok, err := exists(fsys, owner)
	if err != nil {
		return "", err
	}
	if !ok {
		return sender, nil
	}
	ok, err = exists(fsys, owner+"-default")
	if err != nil {
		return "", err
	}
	if ok {
		return local + "-owner-@" + domain + address.VERPSuffix, nil
	}
	return local + "-owner@" + domain, nil
}

// exists is qmail's qmeox: stat succeeds.
func exists(fsys FS, name string) (bool, error) {
	if strings.Contains(name, "/") {
		return false, nil
	}
	_, err := fsys.Stat(name)
	switch {
	case err == nil:
		return true, nil
	case statAbsent(err):
		return false, nil
	}
	return false, unableToOpen(name, err)
}
