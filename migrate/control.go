// Copying qmail's control files into a gqmail root: PlanControl decides,
// ControlPlan.Apply copies.
//
// # Which files
//
// Copied: the files gqmail reads (internal/control's list, control.Names)
// and servercert.pem, the certificate and key that
// qmail's TLS patch and gqmail's [tls] cert default both use. Each is
// checked with gqmail's own parser before anything is copied, and a file
// it refuses is reported with its line.
//
// Ignored, each with the reason: the compiled morercpthosts.cdb (gqmail
// reads the text morercpthosts), the files of qmail features and patches
// that gqmail does without or configures in qmail.toml (percenthack,
// qmqpservers, the TLS patch's client and cipher files, SPF, badrcptto,
// tarpit, ...), and anything else, as "not a file gqmail reads".
//
// # Rules
//
// A file that the root does not have is copied; one that it has with the
// same bytes is left and reported identical; one that it has with other
// bytes is a conflict, refused unless force is set (the daemon's first
// start writes its own me, locals and rcpthosts, so a fresh root has
// three). Apply copies nothing when any file is invalid, or in conflict
// without force: the root keeps a consistent set of control files. Each
// copy is written to a temporary file and renamed into place, with the
// source's permission bits.
//
// A file gqmail reads that the root has and qmail does not is kept and
// reported, since its absence means something in qmail (no rcpthosts:
// every recipient accepted; no locals: only me is local).

package migrate

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gqmail/gqmail/internal/control"
)

// controlFiles returns the control files gqmail reads: internal/control's
// (control.Names) and servercert.pem.
func controlFiles() []string {
	return append(control.Names(), "servercert.pem")
}

// ignoredControls say why gqmail does without a file qmail or one of its
// common patches reads.
var ignoredControls = map[string]string{
	"morercpthosts.cdb":   "qmail-newmrh's compiled morercpthosts; gqmail reads the text file morercpthosts (copied when present): if only the .cdb is left, recreate the text file (one domain a line) and run this again",
	"percenthack":         "gqmail does not do qmail-send's percent hack",
	"qmqpservers":         "gqmail has no QMQP client (qmail-qmqpc)",
	"defaultdelivery":     `read by qmail's start script, not by qmail: set [delivery] defaultdelivery in qmail.toml`,
	"concurrencyincoming": "read by the tcpserver run script, not by qmail: set [smtp] max_connections in qmail.toml",
	"clientcert.pem":      "TLS patch: the client certificate qmail-remote presents; gqmail's remote delivery presents none",
	"clientca.pem":        "TLS patch: CAs for client certificates; gqmail asks clients for none",
	"clientcrl.pem":       "TLS patch: revocation list for client certificates; gqmail asks clients for none",
	"tlsclients":          "TLS patch: client certificate logins; gqmail uses SMTP AUTH (qmailctl passwd)",
	"tlsclientciphers":    "TLS patch: cipher list; gqmail uses Go's TLS 1.2 and 1.3 defaults",
	"tlsserverciphers":    "TLS patch: cipher list; gqmail uses Go's TLS 1.2 and 1.3 defaults",
	"tlshosts":            `TLS patch: per-host certificate checks; set [remote] starttls = "verify" in qmail.toml to check every host`,
	"notlshosts":          `TLS patch: hosts sent to without TLS; see [remote] starttls in qmail.toml`,
	"dh512.pem":           "TLS patch: temporary DH parameters; Go's TLS needs none",
	"dh1024.pem":          "TLS patch: temporary DH parameters; Go's TLS needs none",
	"dh2048.pem":          "TLS patch: temporary DH parameters; Go's TLS needs none",
	"rsa512.pem":          "TLS patch: temporary RSA key; Go's TLS needs none",
	"spfbehavior":         "SPF patch: gqmail does no SPF check",
	"spfexp":              "SPF patch: gqmail does no SPF check",
	"spfguess":            "SPF patch: gqmail does no SPF check",
	"spfrules":            "SPF patch: gqmail does no SPF check",
	"badrcptto":           "badrcptto patch: gqmail refuses unknown local recipients at RCPT itself ([smtp] verify_local_recipients)",
	"badrcptpatterns":     "badrcptto patch: gqmail refuses unknown local recipients at RCPT itself ([smtp] verify_local_recipients)",
	"goodrcptto":          "recipient check patch: gqmail refuses unknown local recipients at RCPT itself",
	"validrcptto.cdb":     "recipient check patch: gqmail refuses unknown local recipients at RCPT itself",
	"realrcptto":          "recipient check patch: gqmail refuses unknown local recipients at RCPT itself",
	"morebadrcptto.cdb":   "badrcptto patch: gqmail refuses unknown local recipients at RCPT itself",
	"badmailpatterns":     "qregex patch: badmailfrom takes addresses and @domains only",
	"badhelo":             "qregex patch: gqmail does not judge HELO names",
	"badmailfromnorelay":  "qregex patch: not supported",
	"badrcpttonorelay":    "qregex patch: not supported",
	"tarpitcount":         "tarpit patch: gqmail closes a session after 20 refusals instead",
	"tarpitdelay":         "tarpit patch: gqmail closes a session after 20 refusals instead",
	"maxrcpt":             "maxrcpt patch: set [smtp] max_recipients in qmail.toml",
	"mfcheck":             "MAIL FROM DNS check patch: not supported",
	"relayclients":        "relay patch: set [smtp] relay_from in qmail.toml",
	"relaydomains":        "relay patch: set [smtp] relay_from in qmail.toml",
	"relaymailfrom":       "relay patch (relay by sender address, unsafe): not supported",
	"outgoingip":          "outgoing IP patch: not supported",
	"domainkeys":          "DomainKeys/DKIM patch: gqmail does not sign",
	"dkimkeys":            "DKIM patch: gqmail does not sign",
	"signatures":          "virus-signature patch: use queue_filter in qmail.toml",
	"badmimetypes":        "attachment-filter patch: use queue_filter in qmail.toml",
	"badloadertypes":      "attachment-filter patch: use queue_filter in qmail.toml",
	"smtpplugins":         "SMTP plugin patch: use queue_filter in qmail.toml",
	"blacklists":          "RBL patch: run rblsmtpd in front of qmaild smtpd under tcpserver",
	"bouncemaxbytes":      "bounce size patch: not supported",
	"bouncesubject":       "bounce text patch: gqmail's bounces are qmail's QSBMF",
	"bouncemessage":       "bounce text patch: gqmail's bounces are qmail's QSBMF",
	"doublebouncesubject": "bounce text patch: gqmail's bounces are qmail's QSBMF",
	"doublebouncemessage": "bounce text patch: gqmail's bounces are qmail's QSBMF",
	"timeoutread":         "not read by qmail 1.03/netqmail: see timeoutsmtpd",
}

// ControlAction is what the migration does with one file.
type ControlAction int

const (
	// ControlCopy: the root has no such file; it is copied.
	ControlCopy ControlAction = iota
	// ControlSame: the root has the same bytes; nothing to do.
	ControlSame
	// ControlConflict: the root's file differs; copied only with force.
	ControlConflict
	// ControlIgnore: gqmail does not read the file; Reason says why.
	ControlIgnore
	// ControlInvalid: gqmail's parser refuses the file; Reason says
	// where. Nothing is copied while there is one.
	ControlInvalid
	// ControlKept: the root has a file that qmail has not; it is kept.
	ControlKept
)

func (a ControlAction) String() string {
	return [...]string{"copy", "identical", "differs", "ignored", "invalid", "kept"}[a]
}

// ControlFile is one file of the plan.
type ControlFile struct {
	Name   string
	Action ControlAction
	Reason string
	mode   fs.FileMode
	data   []byte
}

// ControlPlan is what copying FROM/control to the root's control/ would do.
type ControlPlan struct {
	From, To string
	Files    []ControlFile
}

// Count returns how many files have action a.
func (p *ControlPlan) Count(a ControlAction) int {
	n := 0
	for _, f := range p.Files {
		if f.Action == a {
			n++
		}
	}
	return n
}

// PlanControl compares the control directory from (QMAILHOME/control)
// with to (the root's control/) and checks what would be copied. It
// changes nothing. It fails only when from cannot be listed.
func PlanControl(from, to string) (*ControlPlan, error) {
	entries, err := os.ReadDir(from)
	if err != nil {
		return nil, fmt.Errorf("qmail control directory: %w", err)
	}
	p := &ControlPlan{From: from, To: to}
	invalid := parseErrors(from)
	reads := controlFiles()
	have := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		have[name] = true
		f := ControlFile{Name: name}
		switch {
		case slices.Contains(reads, name):
			p.planCopy(&f, invalid)
		case ignoredControls[name] != "":
			f.Action, f.Reason = ControlIgnore, ignoredControls[name]
		case strings.HasPrefix(name, "ldap"):
			f.Action, f.Reason = ControlIgnore, "LDAP patch: not supported"
		case strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".bak") || strings.HasSuffix(name, ".orig") || strings.HasSuffix(name, ".tmp"):
			f.Action, f.Reason = ControlIgnore, "a backup or temporary file"
		case e.IsDir():
			f.Action, f.Reason = ControlIgnore, "a directory: gqmail reads none under control/"
		default:
			f.Action, f.Reason = ControlIgnore, "not a file gqmail reads"
		}
		p.Files = append(p.Files, f)
	}
	for _, name := range reads {
		if have[name] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(to, name)); err == nil {
			p.Files = append(p.Files, ControlFile{Name: name, Action: ControlKept, Reason: keptReason(name)})
		}
	}
	slices.SortFunc(p.Files, func(a, b ControlFile) int { return cmpString(a.Name, b.Name) })
	return p, nil
}

func keptReason(name string) string {
	switch name {
	case "locals":
		return "qmail has none (so only me is local there); the root's is kept: check it"
	case "rcpthosts":
		return "qmail has none (so it accepts every recipient there); the root's is kept: check it"
	}
	return "qmail has none; the root's is kept"
}

// parseErrors checks from's control files with gqmail's parser and
// returns each file's error by name.
func parseErrors(from string) map[string]error {
	out := map[string]error{}
	err := control.Open(from, nil).Check()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else if err != nil {
		list = []error{err}
	}
	for _, e := range list {
		var fe *control.FileError
		if errors.As(e, &fe) {
			out[filepath.Base(fe.File)] = fe
		}
	}
	return out
}

func (p *ControlPlan) planCopy(f *ControlFile, invalid map[string]error) {
	src := filepath.Join(p.From, f.Name)
	fi, err := os.Stat(src)
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (mode %v)", fi.Mode())
	}
	if err == nil {
		f.data, err = os.ReadFile(src)
	}
	if err != nil {
		f.Action, f.Reason = ControlInvalid, err.Error()
		return
	}
	f.mode = fi.Mode().Perm()
	if err := invalid[f.Name]; err != nil {
		f.Action, f.Reason = ControlInvalid, err.Error()
		return
	}
	if f.Name == "servercert.pem" {
		if _, err := tls.X509KeyPair(f.data, f.data); err != nil {
			f.Action, f.Reason = ControlInvalid, fmt.Sprintf("%s: not a certificate chain with its key: %v", src, err)
			return
		}
	}
	old, err := os.ReadFile(filepath.Join(p.To, f.Name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.Action = ControlCopy
	case err != nil:
		f.Action, f.Reason = ControlConflict, err.Error()
	case bytes.Equal(old, f.data):
		f.Action = ControlSame
	default:
		f.Action, f.Reason = ControlConflict, fmt.Sprintf("%s differs from qmail's", filepath.Join(p.To, f.Name))
	}
}

// ControlRefused is Apply's error when it copied nothing because of
// invalid files, or of conflicts without force.
type ControlRefused struct {
	Invalid, Conflicts []ControlFile
}

func (e *ControlRefused) Error() string {
	var b strings.Builder
	b.WriteString("nothing copied:")
	for _, f := range e.Invalid {
		fmt.Fprintf(&b, "\n  %s: invalid: %s", f.Name, f.Reason)
	}
	for _, f := range e.Conflicts {
		fmt.Fprintf(&b, "\n  %s: %s (--force overwrites it)", f.Name, f.Reason)
	}
	return b.String()
}

// Apply copies the plan's files: those marked copy, and with force those
// in conflict. It returns a *ControlRefused, having copied nothing, when
// a file is invalid or, without force, in conflict. The files it copied
// are named in the result.
func (p *ControlPlan) Apply(force bool) ([]string, error) {
	var refused ControlRefused
	for _, f := range p.Files {
		switch {
		case f.Action == ControlInvalid:
			refused.Invalid = append(refused.Invalid, f)
		case f.Action == ControlConflict && !force:
			refused.Conflicts = append(refused.Conflicts, f)
		}
	}
	if len(refused.Invalid)+len(refused.Conflicts) > 0 {
		return nil, &refused
	}
	var copied []string
	for _, f := range p.Files {
		if f.Action != ControlCopy && f.Action != ControlConflict {
			continue
		}
		if err := writeFileAtomic(filepath.Join(p.To, f.Name), f.data, f.mode); err != nil {
			return copied, err
		}
		copied = append(copied, f.Name)
	}
	return copied, nil
}

// writeFileAtomic writes data to path through a temporary file in the
// same directory and a rename, so a reader sees the old file or the new.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".migrate-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
