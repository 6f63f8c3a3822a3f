package passwd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

const (
	argonHash  = "$argon2id$v=19$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo"
	sha256Hash = "$5$gqmailsalt$TstB5x2EGbHE0goMRFJxCSK5osGNxFWD1NH8ZkosuiC"
)

// goodDovecot has every accepted form; every login's password is
// vectorPassword.
var goodDovecot = strings.Join([]string{
	"# users of the old server",
	"",
	"alice:{BLF-CRYPT}" + bcryptHash + ":1000:1000::/home/alice::userdb_quota_rule=*:storage=1G",
	"   # an indented comment",
	"Bob@Example.NET:{SHA512-CRYPT}" + sha512Hash,
	"carol:{sha256-crypt}" + sha256Hash + "::::::",
	"dave:{ARGON2ID}" + argonHash,
	"erin:" + sha512Hash,
	"frank:{CRYPT}" + strings.Replace(bcryptHash, "$2b$", "$2y$", 1) + ":",
	"\t",
}, "\n") + "\n"

func TestImportDovecotFile(t *testing.T) {
	path := tablePath(t)
	n, err := Import(path, strings.NewReader(goodDovecot), "passwd-file")
	if err != nil || n != 6 {
		t.Fatalf("Import: %d, %v", n, err)
	}
	want := []string{"alice", "bob@example.net", "carol", "dave", "erin", "frank"}
	if got, _ := List(path); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	for _, login := range want {
		if !check(t, path, login, vectorPassword) {
			t.Errorf("%s: the right password was refused", login)
		}
		if check(t, path, login, "wrong") {
			t.Errorf("%s: a wrong password was taken", login)
		}
	}
}

func TestImportKeepsLoginsTheFileDoesNotName(t *testing.T) {
	path := tablePath(t)
	if err := Set(path, "zoe", bcryptHash); err != nil {
		t.Fatal(err)
	}
	if err := Set(path, "alice", dummyHash); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(path, strings.NewReader(goodDovecot), "passwd-file"); err != nil {
		t.Fatal(err)
	}
	if !check(t, path, "zoe", vectorPassword) {
		t.Error("zoe, not in the file, was lost")
	}
	if !check(t, path, "alice", vectorPassword) {
		t.Error("alice's hash was not replaced by the file's")
	}
}

func TestImportReportsEveryBadLineAndChangesNothing(t *testing.T) {
	lines := []struct {
		text, want string // want "" for a good line
	}{
		{"# comment", ""},
		{"alice:{BLF-CRYPT}" + bcryptHash + ":1000:1000::/home/alice::", ""},
		{"bob:{PLAIN}hunter2::::", "scheme {PLAIN} is not accepted"},
		{"carol:{MD5-CRYPT}$1$abc$OGyl6dDvZCDiGmIVbeuCq/", "scheme {MD5-CRYPT} is not accepted"},
		{"dave:{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "scheme {SSHA} is not accepted"},
		{"nocolonatall", `no ":" after the login`},
		{"erin:", "empty password field"},
		{"frank:{BLF-CRYPT}" + sha512Hash, "scheme {BLF-CRYPT} holds a hash that is not bcrypt"},
		{"Alice:{SHA512-CRYPT}" + sha512Hash, `login "alice" is also on line 2`},
		{"grace:{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA", "argon2id hash:"},
		{"henry:plaintextpw", "not a crypt hash"},
		{"ivan:{SHA512-CRYPT}" + sha512Hash + "\r", ""}, // a DOS line end is taken
		{"ivan2:{SHA512-CRYPT}" + sha512Hash + "\r:1000", "carriage return"},
		{"a b:{SHA512-CRYPT}" + sha512Hash, "the login has white space"},
		{"judy:{BLF-CRYPT" + bcryptHash, `"{" with no "}"`},
		{"kim:{CRYPT}$1$abc$OGyl6dDvZCDiGmIVbeuCq/", "scheme {CRYPT} holds a hash that is not"},
		{"leo:{x y}secret", "a scheme gqmail does not know"},
		{"mallory:{SHA512-CRYPT}$6$rounds=6000000$roundsalt$lu7Rcrwbzvc4i3UU0le05F9a9bmjWI6qZ3W01cRCxB0EHJ8hLrRWzqCTVE5ceVSQRShxY.Ag20d5tJkF3rdy/.", "SHA512-CRYPT hash: 6000000 rounds are over"},
		{"nia:" + sha256Hash + "\x00", "NUL byte"},
		{":{SHA512-CRYPT}" + sha512Hash, "empty login"},
		{"oscar:{SHA256-CRYPT}" + sha256Hash, ""},
	}
	var file strings.Builder
	for _, l := range lines {
		file.WriteString(l.text + "\n")
	}
	path := tablePath(t)
	if err := Set(path, "zoe", bcryptHash); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)

	n, err := Import(path, strings.NewReader(file.String()), "passwd-file")
	var ie *ImportError
	if !errors.As(err, &ie) || n != 0 {
		t.Fatalf("Import: %d, %v; want an *ImportError", n, err)
	}
	msg := err.Error()
	var wantLines []int
	for i, l := range lines {
		if l.want == "" {
			if strings.Contains(msg, fmt.Sprintf("passwd-file line %d:", i+1)) {
				t.Errorf("good line %d reported:\n%s", i+1, msg)
			}
			continue
		}
		wantLines = append(wantLines, i+1)
		if want := fmt.Sprintf("passwd-file line %d: %s", i+1, l.want); !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var gotLines []int
	for _, l := range ie.Lines {
		gotLines = append(gotLines, l.Line)
	}
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("bad lines %v, want %v", gotLines, wantLines)
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != wantLines[0] {
		t.Errorf("the error does not unwrap to the first *LineError: %v", le)
	}
	// The message is the bad lines' own errors, one a line, and nothing
	// more: no text of the line, not even an empty one.
	var each []string
	for _, e := range ie.Unwrap() {
		each = append(each, e.Error())
	}
	if want := strings.Join(each, "\n"); msg != want {
		t.Errorf("message\n%s\nis not the bad lines' errors\n%s", msg, want)
	}
	for _, secret := range []string{"hunter2", "plaintextpw", "secret"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the error quotes the password %q:\n%s", secret, msg)
		}
	}

	after, _ := os.ReadFile(path)
	fi2, _ := os.Stat(path)
	if !bytes.Equal(before, after) || fi.Sys().(*syscall.Stat_t).Ino != fi2.Sys().(*syscall.Stat_t).Ino {
		t.Error("a failed import changed the table")
	}
	if got, _ := List(path); !slices.Equal(got, []string{"zoe"}) {
		t.Errorf("after a failed import List = %q", got)
	}
}

func TestImportOfALineTooLongIsAnError(t *testing.T) {
	path := tablePath(t)
	_, err := Import(path, strings.NewReader("alice:"+sha512Hash+"\nbob:"+strings.Repeat("x", maxLine)+"\n"), "big")
	if err == nil || !strings.Contains(err.Error(), "big line 2: longer than") {
		t.Errorf("Import: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("a failed import made a table")
	}
}

func TestImportOfNothingWritesNothing(t *testing.T) {
	path := tablePath(t)
	if n, err := Import(path, strings.NewReader("# nobody yet\n\n"), "empty"); n != 0 || err != nil {
		t.Fatalf("Import: %d, %v", n, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("an empty import made a table")
	}
}

func FuzzParseDovecot(f *testing.F) {
	f.Add(goodDovecot)
	f.Add("bob:{PLAIN}hunter2\nalice:{BLF-CRYPT\n:x\n")
	f.Add("a:{ARGON2ID}$argon2id$v=19$m=8,t=1,p=1$c2FsdA$a2V5a2V5a2V5\n")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := ParseDovecot(strings.NewReader(text), "fuzz")
		if err != nil {
			if len(entries) != 0 {
				t.Fatal("entries returned with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if _, nerr := NormalizeLogin(e.Login); nerr != nil || seen[e.Login] || e.Login != asciiLower(e.Login) {
				t.Fatalf("bad or repeated login %q", e.Login)
			}
			seen[e.Login] = true
			if err := CheckHash(e.Hash); err != nil {
				t.Fatalf("entry %q has a hash CheckHash refuses: %v", e.Login, err)
			}
		}
	})
}

// secretLines are bad lines of every kind the importer reports, each with
// the marker SeKr3t where the password or hash would be (or, where the
// login itself is bad, in what the line's start would make the login).
var secretLines = []string{
	"nul:{PLAIN}SeKr3t\x00",
	"cr:{PLAIN}SeKr3t\r:1000",
	"nocolonSeKr3t",
	"empty::SeKr3t",
	"brace:{BLF-CRYPTSeKr3t",
	"plain:{PLAIN}SeKr3t",
	"erin:{SeKr3t}",
	"erin2:{SeKr3t}x",
	"spaced:{x SeKr3t}y",
	"mismatch:{BLF-CRYPT}$6$SeKr3t$key",
	"crypt:{CRYPT}SeKr3t",
	"crypt2:{CRYPT}$SeKr3t$x",
	"alice SeKr3t:x",
	"alice\t{SHA512-CRYPT}$6$salt$SeKr3t:1000",
	"bad\xffSeKr3t:{PLAIN}x",
	"ctl\x01SeKr3t:{PLAIN}x",
	":SeKr3t",
	strings.Repeat("l", 300) + "SeKr3t:{PLAIN}x",
	"gina:$argon2id$v=19$m=SeKr3t,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo",
	"gina2:{ARGON2ID}$argon2id$v=19$m=SeKr3t,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo",
	"gina3:$argon2id$v=19$SeKr3t=1,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo",
	"gina4:$argon2id$v=SeKr3t$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo",
	"gina5:$argon2id$v=19$m=19456,t=2,p=1$SeKr3t!!$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo",
	"gina6:$argon2id$v=19$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$SeKr3t!!",
	"gina7:$argon2id$SeKr3t",
	"jack:$2y$SeKr3t$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a",
	"jack2:{BLF-CRYPT}$2y$05$SeKr3t",
	"kate:$6$rounds=SeKr3t$salt$key",
	"kate2:{SHA256-CRYPT}$5$rounds=SeKr3t$salt$key",
	"kate3:$6$SeKr3t$",
	"costly:$6$rounds=6000000$SeKr3t$lu7Rcrwbzvc4i3UU0le05F9a9bmjWI6qZ3W01cRCxB0EHJ8hLrRWzqCTVE5ceVSQRShxY.Ag20d5tJkF3rdy/.",
	"costly2:$argon2id$v=19$m=2097152,t=2,p=1$SeKr3tSeKr3tSeKr3t$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo",
	"sam:$SeKr3t$x",
	"sam2:$1$SeKr3t$OGyl6dDvZCDiGmIVbeuCq/",
	"henry:SeKr3t",
	"dup:$6$SeKr3t$lu7Rcrwbzvc4i3UU0le05F9a9bmjWI6qZ3W01cRCxB0EHJ8hLrRWzqCTVE5ceVSQRShxY.Ag20d5tJkF3rdy/.",
	"DUP:$6$SeKr3t$lu7Rcrwbzvc4i3UU0le05F9a9bmjWI6qZ3W01cRCxB0EHJ8hLrRWzqCTVE5ceVSQRShxY.Ag20d5tJkF3rdy/.",
}

func TestImportErrorsNeverQuoteTheLine(t *testing.T) {
	// In any case: a scheme is upper-cased before it is named.
	quotes := func(s string) bool { return strings.Contains(strings.ToLower(s), "sekr3t") }
	_, err := ParseDovecot(strings.NewReader(strings.Join(secretLines, "\n")+"\n"), "passwd-file")
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("ParseDovecot: %v; want an *ImportError", err)
	}
	// Every line but the first of the duplicate login is bad.
	if len(ie.Lines) != len(secretLines)-1 {
		t.Errorf("%d bad lines, want %d:\n%v", len(ie.Lines), len(secretLines)-1, err)
	}
	if want := fmt.Sprintf(`passwd-file line %d: login "dup" is also on line %d`, len(secretLines), len(secretLines)-1); !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q:\n%v", want, err)
	}
	var walk func(e error)
	walk = func(e error) {
		if quotes(e.Error()) {
			t.Errorf("%T quotes the line:\n%v", e, e)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				walk(next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				walk(next)
			}
		}
	}
	walk(err)
	for _, l := range ie.Lines {
		if quotes(l.Reason + l.Text) {
			t.Errorf("line %d keeps the line's text: %q %q", l.Line, l.Reason, l.Text)
		}
	}
}
