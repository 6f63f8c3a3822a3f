package localdeliver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"golang.org/x/sys/unix"
)

// serveHelper runs h.Serve on one end of a socket pair and returns a
// Client on the other. Serve has ended when the test's cleanup returns.
func serveHelper(t *testing.T, h *Helper) (*Client, *warnings) {
	t.Helper()
	mine, theirs, err := frame.Pair()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := frame.FileConn(theirs)
	if err != nil {
		t.Fatal(err)
	}
	w := &warnings{}
	if h.Warn == nil {
		h.Warn = w.add
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(context.Background(), hc) }()
	c := NewClient(mine, w.add)
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		hc.Close()
	})
	return c, w
}

// recipientHelper is a helper over testPasswd's accounts, with these
// files made in their homes: "joe/.qmail-ext" is joe's .qmail-ext.
func recipientHelper(t *testing.T, files map[string]string) *Helper {
	t.Helper()
	pw, _ := testPasswd(t)
	for name, contents := range files {
		user, file, _ := strings.Cut(name, "/")
		if err := os.WriteFile(filepath.Join(pw[user].HomeDir, file), []byte(contents), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &Helper{Resolver: &Resolver{LookupUser: pw.lookup}, SetCredentials: os.Getuid() == 0}
}

func TestCheckRecipientFollowsDotQmailLookup(t *testing.T) {
	h := recipientHelper(t, map[string]string{
		"joe/.qmail-ext":                "./Maildir/\n",
		"joe/.qmail-empty":              "",
		"joe/.qmail-list-default":       "&list@example.net\n",
		"uppercase/.qmail-default":      "./Maildir/\n",
		"alias/.qmail-postmaster":       "&joe\n",
		"alias/.qmail-mailer-daemon":    "&joe\n",
		"joe-foo/.qmail-only-this-name": "&joe\n",
	})
	home := func(user string) string { u, _ := h.Resolver.LookupUser(user); return u.HomeDir }
	if err := os.Mkdir(filepath.Join(home("joe"), ".qmail-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home("joe"), ".qmail-writable"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(home("joe"), ".qmail-writable"), 0o666)
	cases := []struct {
		rcpt    string
		exists  bool
		account string
	}{
		{"joe@example.org", true, "joe"},
		{"JOE@example.org", true, "joe"},
		{"nobody-here@example.org", false, ""},
		{"joe-ext@example.org", true, "joe"},
		{"joe-EXT@example.org", true, "joe"},
		{"joe-other@example.org", false, ""},
		{"joe-empty@example.org", true, "joe"},
		{"joe-writable@example.org", true, "joe"},
		{"joe-dir@example.org", false, ""},
		{"joe-list-dev@example.org", true, "joe"},
		{"joe-list-dev-announce@example.org", true, "joe"},
		// ".qmail-list-default" does not cover "list" itself.
		{"joe-list@example.org", false, ""},
		// No name leaves the home's top level.
		{"joe-../joe-foo/.qmail-only-this-name@example.org", false, ""},
		{"uppercase-anything@example.org", true, "uppercase"},
		{"uppercase-a-b-c@example.org", true, "uppercase"},
		{"postmaster@example.org", true, "alias"},
		{"Mailer-Daemon@example.org", true, "alias"},
		// uid 0 is never a delivery: root's mail is the alias user's.
		{"toor@example.org", false, ""},
		// The whole local part is an account first: joe-foo, ext "bar".
		{"joe-foo-bar@example.org", false, ""},
		{"joe-foo-only-this-name@example.org", true, "joe-foo"},
		// qmail-lspawn's trash address.
		{"@example.org", true, ""},
	}
	for _, c := range cases {
		info, err := h.checkRecipient(c.rcpt)
		if err != nil || info.Exists != c.exists || info.Account != c.account {
			t.Errorf("checkRecipient(%q) = %+v, %v; want exists %v account %q", c.rcpt, info, err, c.exists, c.account)
		}
	}
}

// The helper is root: a .qmail-ext that is a link exists whatever it
// points to, and the file it points to is never opened.
func TestCheckRecipientNeverOpensALinksTarget(t *testing.T) {
	h := recipientHelper(t, nil)
	u, _ := h.Resolver.LookupUser("joe")
	secret := filepath.Join(t.TempDir(), "secret") // as /root/secret
	if err := os.WriteFile(secret, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(u.HomeDir, ".qmail-ext")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/dangling", filepath.Join(u.HomeDir, ".qmail-dangling")); err != nil {
		t.Fatal(err)
	}
	in, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, secret, unix.IN_OPEN|unix.IN_ACCESS); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"joe-ext@example.org", "joe-dangling@example.org"} {
		if info, err := h.checkRecipient(rcpt); err != nil || !info.Exists || info.Account != "joe" {
			t.Errorf("checkRecipient(%q) = %+v, %v; want joe's", rcpt, info, err)
		}
	}
	buf := make([]byte, 4096)
	if n, err := unix.Read(in, buf); err != unix.EAGAIN {
		t.Fatalf("the link's target was opened or read (%d bytes of events, %v)", n, err)
	}
	// The watch works: an open is seen.
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n, _ := unix.Read(in, buf); n <= 0 {
		t.Fatal("inotify did not see an open; the test proves nothing")
	}
}

// A home the delivery would defer at (sticky: the user is editing) is a
// temporary failure, not an answer.
func TestCheckRecipientDefersWhereTheDeliveryWould(t *testing.T) {
	h := recipientHelper(t, nil)
	u, _ := h.Resolver.LookupUser("joe")
	if err := os.Chmod(u.HomeDir, 0o755|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	info, err := h.checkRecipient("joe-ext@example.org")
	if err == nil || outcome.IsPermanent(err) || !strings.Contains(outcome.Text(err), "sticky") {
		t.Fatalf("sticky home: %+v, %v", info, err)
	}
	h.Resolver.AliasUser = "nonexistent"
	if _, err := h.checkRecipient("nobody@example.org"); err == nil || outcome.IsPermanent(err) {
		t.Fatalf("no alias user: %v, want a temporary failure", err)
	}
}

// A home others may write to is a deferral at delivery ("Uh-oh: home
// directory is writable"), so at RCPT it is a temporary failure too, for
// an address with an extension (whose .qmail exists) and one without.
func TestCheckRecipientDefersAtAWritableHome(t *testing.T) {
	h := recipientHelper(t, map[string]string{"joe/.qmail-ext": "./Maildir/\n"})
	u, _ := h.Resolver.LookupUser("joe")
	for _, rcpt := range []string{"joe@example.org", "joe-ext@example.org"} {
		if info, err := h.checkRecipient(rcpt); err != nil || !info.Exists {
			t.Fatalf("checkRecipient(%q) before the chmod = %+v, %v; want it to exist", rcpt, info, err)
		}
	}
	if err := os.Chmod(u.HomeDir, 0o757); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"joe@example.org", "joe-ext@example.org"} {
		info, err := h.checkRecipient(rcpt)
		if err == nil || outcome.IsPermanent(err) || outcome.Text(err) != "Uh-oh: home directory is writable. (#4.7.0)" {
			t.Errorf("checkRecipient(%q) with a writable home = %+v, %v; want the deferral the delivery gives", rcpt, info, err)
		}
	}
}

// Through the wire, answers come back for their own token and kind.
func TestCheckRecipientThroughTheHelper(t *testing.T) {
	h := recipientHelper(t, map[string]string{"joe/.qmail-ext": "./Maildir/\n", "alias/.qmail-postmaster": "&joe\n"})
	c, _ := serveHelper(t, h)
	ctx := context.Background()
	for rcpt, want := range map[string]RecipientInfo{
		"joe@example.org":        {Exists: true, Account: "joe"},
		"joe-ext@example.org":    {Exists: true, Account: "joe"},
		"joe-none@example.org":   {},
		"nobody@example.org":     {},
		"postmaster@example.org": {Exists: true, Account: "alias"},
	} {
		if info, err := c.CheckRecipient(ctx, rcpt); err != nil || info != want {
			t.Errorf("CheckRecipient(%q) = %+v, %v; want %+v", rcpt, info, err, want)
		}
	}
	// Deliveries still work beside them: the trash address needs no child.
	if resp, err := c.Deliver(ctx, &Request{Recipient: "@example.org"}); err != nil || resp.Err != nil {
		t.Fatalf("delivery beside checks: %+v, %v", resp, err)
	}
	if _, err := c.CheckRecipient(ctx, strings.Repeat("x", maxRecipientLen)+"@example.org"); err == nil {
		t.Fatal("an over-long recipient was checked")
	}
}

// answerRecipients answers every rcpt/1 on helper with answer, and
// counts them.
func answerRecipients(helper *frame.Conn, answer func(tok []byte) [][]byte) *atomic.Int32 {
	var n atomic.Int32
	go func() {
		for {
			fields, _, err := helper.Read()
			if err != nil {
				return
			}
			tok, _, err := decodeRcpt(fields)
			if err != nil {
				return
			}
			n.Add(1)
			helper.Write(nil, answer(tok)...)
		}
	}()
	return &n
}

func TestCheckRecipientAnswersAreCachedBriefly(t *testing.T) {
	c, helper, _ := fakeHelper(t)
	asked := answerRecipients(helper, func(tok []byte) [][]byte {
		return encodeRcptInfo(tok, rcptAnswer{Info: RecipientInfo{Exists: true, Account: "joe"}})
	})
	ctx := context.Background()
	for _, rcpt := range []string{"joe@example.org", "joe@example.org", "Joe@Example.ORG"} {
		if info, err := c.CheckRecipient(ctx, rcpt); err != nil || !info.Exists || info.Account != "joe" {
			t.Fatalf("CheckRecipient(%q) = %+v, %v", rcpt, info, err)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the helper was asked %d times, want once", n)
	}
	c.rcpts.positive = 10 * time.Millisecond
	c.CheckRecipient(ctx, "other@example.org")
	time.Sleep(20 * time.Millisecond)
	c.CheckRecipient(ctx, "other@example.org")
	if n := asked.Load(); n != 3 {
		t.Fatalf("the helper was asked %d times, want 3: an expired answer is asked again", n)
	}
}

func TestCheckRecipientCachesNoTemporaryFailure(t *testing.T) {
	c, helper, _ := fakeHelper(t)
	asked := answerRecipients(helper, func(tok []byte) [][]byte {
		return encodeRcptInfo(tok, rcptAnswer{Err: outcome.Temporary("Unable to find alias user! (#4.3.0)")})
	})
	for range 2 {
		if _, err := c.CheckRecipient(context.Background(), "joe@example.org"); err == nil || !strings.Contains(err.Error(), "alias user") {
			t.Fatalf("CheckRecipient = %v, want the helper's temporary failure", err)
		}
	}
	if n := asked.Load(); n != 2 {
		t.Fatalf("the helper was asked %d times, want twice", n)
	}
}

func TestRecipientCacheIsBounded(t *testing.T) {
	rc := newRecipientCache()
	rc.max = 3
	for _, k := range []string{"a", "b", "c", "d"} {
		rc.put(k, RecipientInfo{Exists: true})
	}
	if _, ok := rc.get("a"); ok || rc.order.Len() != 3 || len(rc.entries) != 3 {
		t.Fatalf("the oldest answer was kept past the bound: %d entries", rc.order.Len())
	}
	if _, ok := rc.get("d"); !ok {
		t.Fatal("the newest answer was dropped")
	}
}

// An answer of another kind for a waiting token fails that request only;
// the connection stays.
func TestAnswerOfAnotherKindFailsItsRequestOnly(t *testing.T) {
	c, helper, w := fakeHelper(t)
	go func() {
		fields, _, err := helper.Read()
		if err != nil {
			return
		}
		tok, _, _ := decodeRcpt(fields)
		helper.Write(nil, encodeResult(tok, &Response{Report: "did 1+0+0"})...)
		fields, _, err = helper.Read()
		if err != nil {
			return
		}
		tok, _, _ = decodeRequest(fields)
		helper.Write(nil, encodeRcptInfo(tok, rcptAnswer{Info: RecipientInfo{Exists: true}})...)
	}()
	if info, err := c.CheckRecipient(context.Background(), "joe@example.org"); err == nil {
		t.Fatalf("a recipient check answered with a delivery result: %+v", info)
	}
	if _, err := c.Deliver(context.Background(), &Request{Recipient: "joe@example.org"}); err == nil || errors.Is(err, ErrHelperGone) {
		t.Fatalf("a delivery answered with a recipient check: %v, want its own temporary failure", err)
	}
	select {
	case <-c.Done():
		t.Fatal("the client closed")
	default:
	}
	if n := strings.Count(w.String(), "was due"); n != 2 {
		t.Fatalf("warnings: %q", w)
	}
}

// A helper that does not speak rcpt/1 says so; the check is a temporary
// failure.
func TestOldHelperAnswersVersion(t *testing.T) {
	c, helper, w := fakeHelper(t)
	go func() {
		if _, _, err := helper.Read(); err == nil {
			helper.Write(nil, []byte(tagVersion), []byte(tagDeliver))
		}
	}()
	if _, err := c.CheckRecipient(context.Background(), "joe@example.org"); !errors.Is(err, ErrHelperGone) {
		t.Fatalf("CheckRecipient = %v, want ErrHelperGone", err)
	}
	if !strings.Contains(w.String(), `"deliver/1"`) {
		t.Fatalf("warnings: %q, want the helper's version", w)
	}
}

// A request the helper does not know gets "version" with every tag it
// speaks, and ends Serve; so does a request out of its bounds, without an
// answer.
func TestHelperAnswersVersionAndEndsOnBadRequests(t *testing.T) {
	tok := make([]byte, tokenLen)
	for name, c := range map[string]struct {
		frame   [][]byte
		version bool
	}{
		"unknown tag":       {[][]byte{[]byte("rcpt/9"), tok, []byte("joe@example.org")}, true},
		"no tag":            {[][]byte{}, false},
		"short token":       {[][]byte{[]byte(tagRcpt), tok[:3], []byte("joe@example.org")}, false},
		"field too many":    {[][]byte{[]byte(tagRcpt), tok, []byte("joe@example.org"), nil}, false},
		"long recipient":    {[][]byte{[]byte(tagRcpt), tok, []byte(strings.Repeat("j", 2000) + "@example.org")}, false},
		"NUL in a login":    {[][]byte{[]byte(tagAuth), tok, []byte("jo\x00e"), []byte("hunter2"), []byte("192.0.2.1")}, false},
		"long password":     {[][]byte{[]byte(tagAuth), tok, []byte("joe"), []byte(strings.Repeat("hunter2", 40)), []byte("192.0.2.1")}, false},
		"remote IP of junk": {[][]byte{[]byte(tagAuth), tok, []byte("joe"), []byte("hunter2"), []byte("192.0.2.1; rm")}, false},
	} {
		t.Run(name, func(t *testing.T) {
			mine, theirs, err := frame.Pair()
			if err != nil {
				t.Fatal(err)
			}
			defer mine.Close()
			hc, err := frame.FileConn(theirs)
			if err != nil {
				t.Fatal(err)
			}
			defer hc.Close()
			h := &Helper{Resolver: &Resolver{LookupUser: passwd{}.lookup}}
			done := make(chan error, 1)
			go func() { done <- h.Serve(context.Background(), hc) }()
			mine.Write(nil, c.frame...)
			err = <-done
			if !errors.Is(err, frame.ErrMalformed) && !strings.Contains(err.Error(), "peer speaks") {
				t.Fatalf("Serve = %v, want it ended by the bad request", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Serve's error holds the password: %v", err)
			}
			hc.Close()
			fields, _, err := mine.Read()
			if !c.version {
				if err == nil {
					t.Fatalf("answered %q", fields)
				}
				return
			}
			if err != nil || len(fields) != 4 || string(fields[0]) != tagVersion ||
				string(fields[1]) != tagDeliver || string(fields[2]) != tagRcpt || string(fields[3]) != tagAuth {
				t.Fatalf("answer %q, %v; want version with deliver/1 rcpt/1 auth/1", fields, err)
			}
		})
	}
}
