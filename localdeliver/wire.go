package localdeliver

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
)

// The frames' tags; the package doc lists every field.
const (
	tagDeliver    = "deliver/1"
	tagResult     = "result/1"
	tagRcpt       = "rcpt/1"
	tagRcptInfo   = "rcptinfo/1"
	tagAuth       = "auth/1"
	tagAuthResult = "authresult/1"
	tagJob        = "job/1"
	tagVersion    = "version"
)

// helperTags are the requests the helper answers, in the order its
// "version" frame names them.
var helperTags = [][]byte{[]byte(tagDeliver), []byte(tagRcpt), []byte(tagAuth)}

// The status letters of rcptinfo/1 and authresult/1: yes (the address
// exists, the password is right), no, and qmail's Z, try again later.
const (
	statusYes       = 'Y'
	statusNo        = 'N'
	statusTemporary = 'Z'
)

// Bounds on the fields of rcpt/1 and auth/1, checked by both sides. The
// frames are tiny: a bigger field is a broken or hostile daemon, not a
// question.
const (
	// maxRecipientLen is an SMTP path (256) with room for a
	// virtualdomains prefix.
	maxRecipientLen = 1024
	// maxLoginLen and maxPasswordLen bound SMTP AUTH's credentials.
	maxLoginLen    = 256
	maxPasswordLen = 256
	// maxRemoteIPLen holds any IPv6 address in text.
	maxRemoteIPLen = 64
	// maxAnswerText bounds the account and the reason of an answer.
	maxAnswerText = 4096
)

// tokenLen is the length of a request token.
const tokenLen = 16

// maxRequestFrame bounds a request or job frame. A queued body larger than
// store.InlineMax travels as a descriptor; an inline one is at most a
// bounce of that much with its recipients' reports.
const maxRequestFrame = 16 << 20

// Request asks for one local delivery. It is all the daemon may say: the
// helper decides who the recipient is.
type Request struct {
	// Recipient is the address to deliver to, local@domain, after
	// virtualdomains rewriting.
	Recipient string
	Sender    string
	// Message is the queued message with LF line ends, or its first part
	// when Rest is set.
	Message []byte
	// Rest, when set, holds the rest of the message, read from its start.
	Rest *os.File
}

// Response is the result of one delivery, as internal/outcome says
// results are: a nil Err is a delivery, with Report its success text
// ("did 1+0+1"); otherwise Err is a temporary or permanent failure with
// qmail's text.
type Response struct {
	Report string
	Err    error
	// Forward lists addresses the delivery forwarded the message to, and
	// NewSender the envelope sender for those copies.
	Forward   []string
	NewSender string
}

// text is what goes on the wire beside the letter.
func (r *Response) text() string {
	if r.Err != nil {
		return outcome.Text(r.Err)
	}
	return r.Report
}

// versionError is a frame whose tag this side does not speak.
type versionError struct {
	got, want string
}

func (e *versionError) Error() string {
	return fmt.Sprintf("peer speaks %q, this side %q", e.got, e.want)
}

// checkTag returns the fields after the tag, or an error that says which
// tag came and which was wanted. A "version" frame is the peer saying it
// does not speak ours.
func checkTag(fields [][]byte, want string, n int) ([][]byte, error) {
	if len(fields) == 0 {
		return nil, frame.ErrMalformed
	}
	tag := string(fields[0])
	if tag == tagVersion && len(fields) >= 2 {
		return nil, &versionError{got: string(bytes.Join(fields[1:], []byte(" "))), want: want}
	}
	if tag != want {
		return nil, &versionError{got: tag, want: want}
	}
	if len(fields)-1 < n {
		return nil, fmt.Errorf("%w: %q with %d fields, want at least %d", frame.ErrMalformed, tag, len(fields)-1, n)
	}
	return fields[1:], nil
}

func encodeRequest(tok []byte, req *Request) [][]byte {
	return [][]byte{[]byte(tagDeliver), tok, []byte(req.Recipient), []byte(req.Sender), req.Message}
}

func decodeRequest(fields [][]byte) ([]byte, *Request, error) {
	f, err := checkTag(fields, tagDeliver, 4)
	if err != nil {
		return nil, nil, err
	}
	if len(f) != 4 || len(f[0]) != tokenLen {
		return nil, nil, fmt.Errorf("%w: %q with %d fields and a %d-byte token", frame.ErrMalformed, tagDeliver, len(f), len(f[0]))
	}
	return f[0], &Request{Recipient: string(f[1]), Sender: string(f[2]), Message: f[3]}, nil
}

func encodeResult(tok []byte, r *Response) [][]byte {
	fields := [][]byte{[]byte(tagResult), tok, {outcome.Letter(r.Err)}, []byte(r.text()), []byte(r.NewSender)}
	for _, f := range r.Forward {
		fields = append(fields, []byte(f))
	}
	return fields
}

func decodeResult(fields [][]byte) ([]byte, *Response, error) {
	f, err := checkTag(fields, tagResult, 4)
	if err != nil {
		return nil, nil, err
	}
	if len(f[1]) != 1 {
		return nil, nil, fmt.Errorf("%w: status of %d bytes", frame.ErrMalformed, len(f[1]))
	}
	err, ok := outcome.FromLetter(f[1][0], string(f[2]))
	if !ok {
		return nil, nil, fmt.Errorf("%w: unknown delivery status %q", frame.ErrMalformed, f[1][0])
	}
	r := &Response{Err: err, NewSender: string(f[3])}
	if err == nil {
		r.Report = string(f[2])
	}
	for _, a := range f[4:] {
		r.Forward = append(r.Forward, string(a))
	}
	return f[0], r, nil
}

func encodeRcpt(tok []byte, recipient string) [][]byte {
	return [][]byte{[]byte(tagRcpt), tok, []byte(recipient)}
}

func decodeRcpt(fields [][]byte) ([]byte, string, error) {
	f, err := checkTag(fields, tagRcpt, 2)
	if err != nil {
		return nil, "", err
	}
	if len(f) != 2 || len(f[0]) != tokenLen {
		return nil, "", fmt.Errorf("%w: %q with %d fields and a %d-byte token", frame.ErrMalformed, tagRcpt, len(f), len(f[0]))
	}
	if err := checkRecipientField(string(f[1])); err != nil {
		return nil, "", err
	}
	return f[0], string(f[1]), nil
}

// checkRecipientField is the bound on rcpt/1's recipient.
func checkRecipientField(r string) error {
	if r == "" || len(r) > maxRecipientLen || strings.IndexByte(r, 0) >= 0 {
		return fmt.Errorf("%w: %q recipient of %d bytes, empty, too long or holding a NUL", frame.ErrMalformed, tagRcpt, len(r))
	}
	return nil
}

// rcptAnswer is rcptinfo/1: Err is a temporary failure, or nil.
type rcptAnswer struct {
	Info RecipientInfo
	Err  error
}

func encodeRcptInfo(tok []byte, a rcptAnswer) [][]byte {
	status, account, text := byte(statusNo), "", ""
	switch {
	case a.Err != nil:
		status, text = statusTemporary, outcome.Text(a.Err)
	case a.Info.Exists:
		status, account = statusYes, a.Info.Account
	}
	return [][]byte{[]byte(tagRcptInfo), tok, {status}, []byte(account), []byte(text)}
}

func decodeRcptInfo(fields [][]byte) ([]byte, rcptAnswer, error) {
	f, err := checkTag(fields, tagRcptInfo, 4)
	if err != nil {
		return nil, rcptAnswer{}, err
	}
	if len(f) != 4 || len(f[1]) != 1 || len(f[2]) > maxAnswerText || len(f[3]) > maxAnswerText {
		return nil, rcptAnswer{}, fmt.Errorf("%w: %q with %d fields", frame.ErrMalformed, tagRcptInfo, len(f))
	}
	switch f[1][0] {
	case statusYes:
		return f[0], rcptAnswer{Info: RecipientInfo{Exists: true, Account: string(f[2])}}, nil
	case statusNo:
		return f[0], rcptAnswer{}, nil
	case statusTemporary:
		return f[0], rcptAnswer{Err: outcome.Temporary("%s", f[3])}, nil
	}
	return nil, rcptAnswer{}, fmt.Errorf("%w: unknown %q status %q", frame.ErrMalformed, tagRcptInfo, f[1][0])
}

// authRequest is auth/1. Password is the frame's own buffer, so that the
// helper can zero it after use.
type authRequest struct {
	Login, Password []byte
	RemoteIP        string
}

func encodeAuth(tok []byte, login, password []byte, remoteIP string) [][]byte {
	return [][]byte{[]byte(tagAuth), tok, login, password, []byte(remoteIP)}
}

// decodeAuth never puts the login or the password in an error: the
// error may be logged.
func decodeAuth(fields [][]byte) ([]byte, *authRequest, error) {
	f, err := checkTag(fields, tagAuth, 4)
	if err != nil {
		return nil, nil, err
	}
	if len(f) != 4 || len(f[0]) != tokenLen {
		return nil, nil, fmt.Errorf("%w: %q with %d fields and a %d-byte token", frame.ErrMalformed, tagAuth, len(f), len(f[0]))
	}
	if err := checkCredentials(f[1], f[2]); err != nil {
		return nil, nil, err
	}
	if err := checkRemoteIP(string(f[3])); err != nil {
		return nil, nil, err
	}
	return f[0], &authRequest{Login: f[1], Password: f[2], RemoteIP: string(f[3])}, nil
}

// checkCredentials is the bound on auth/1's login and password: what
// checkpassword's descriptor 3 can carry, NUL-terminated, and no more.
func checkCredentials(login, password []byte) error {
	if len(login) == 0 || len(login) > maxLoginLen || bytes.IndexByte(login, 0) >= 0 {
		return fmt.Errorf("%w: %q login of %d bytes, empty, too long or holding a NUL", frame.ErrMalformed, tagAuth, len(login))
	}
	if len(password) > maxPasswordLen || bytes.IndexByte(password, 0) >= 0 {
		return fmt.Errorf("%w: %q password of %d bytes, too long or holding a NUL", frame.ErrMalformed, tagAuth, len(password))
	}
	return nil
}

// checkRemoteIP accepts an IP address in its canonical text, without a
// zone: it goes into checkpassword's environment as TCPREMOTEIP.
func checkRemoteIP(ip string) error {
	a, err := netip.ParseAddr(ip)
	if len(ip) > maxRemoteIPLen || err != nil || a.Zone() != "" || a.String() != ip {
		return fmt.Errorf("%w: %q remote IP %q is not an IP address in canonical form", frame.ErrMalformed, tagAuth, ip)
	}
	return nil
}

// authAnswer is authresult/1: Err is a temporary failure, or nil.
type authAnswer struct {
	Result AuthResult
	Err    error
}

func encodeAuthResult(tok []byte, a authAnswer) [][]byte {
	status, text := byte(statusNo), ""
	switch {
	case a.Err != nil:
		status, text = statusTemporary, a.Err.Error()
	case a.Result == AuthAccepted:
		status = statusYes
	}
	return [][]byte{[]byte(tagAuthResult), tok, {status}, []byte(text)}
}

func decodeAuthResult(fields [][]byte) ([]byte, authAnswer, error) {
	f, err := checkTag(fields, tagAuthResult, 3)
	if err != nil {
		return nil, authAnswer{}, err
	}
	if len(f) != 3 || len(f[1]) != 1 || len(f[2]) > maxAnswerText {
		return nil, authAnswer{}, fmt.Errorf("%w: %q with %d fields", frame.ErrMalformed, tagAuthResult, len(f))
	}
	switch f[1][0] {
	case statusYes:
		return f[0], authAnswer{Result: AuthAccepted}, nil
	case statusNo:
		return f[0], authAnswer{Result: AuthRejected}, nil
	case statusTemporary:
		return f[0], authAnswer{Result: AuthRejected, Err: fmt.Errorf("checkpassword: %s", f[2])}, nil
	}
	return nil, authAnswer{}, fmt.Errorf("%w: unknown %q status %q", frame.ErrMalformed, tagAuthResult, f[1][0])
}

// answer is one of the helper's answers, decoded by its tag.
type answer struct {
	tag    string
	result *Response
	rcpt   rcptAnswer
	auth   authAnswer
	// err fails the request: the answer was of another kind.
	err error
}

// decodeAnswer reads any answer the helper sends the daemon.
func decodeAnswer(fields [][]byte) ([]byte, answer, error) {
	var tag string
	if len(fields) > 0 {
		tag = string(fields[0])
	}
	a := answer{tag: tag}
	var (
		tok []byte
		err error
	)
	switch tag {
	case tagRcptInfo:
		tok, a.rcpt, err = decodeRcptInfo(fields)
	case tagAuthResult:
		tok, a.auth, err = decodeAuthResult(fields)
	default:
		tok, a.result, err = decodeResult(fields)
	}
	return tok, a, err
}
