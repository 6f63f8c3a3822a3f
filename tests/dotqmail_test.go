package tests

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The accounts of the local delivery test. They are made with useradd
// (and kept between runs; their homes are made afresh).
const (
	userA     = "gq3a"     // most .qmail files
	userB     = "gq3b"     // no .qmail: default delivery; a symlinked mailbox
	userC     = "gq3c"     // an empty .qmail; gets bounces and postmaster mail
	userZero  = "gq3zero"  // uid 0: never delivered to
	userOther = "gq3other" // home owned by someone else
	userAlias = "gq3alias" // the alias account
)

var (
	startingRE = regexp.MustCompile(`starting delivery (\d+): msg \d+ to (local|remote) (\S+)`)
	resultRE   = regexp.MustCompile(`delivery (\d+): (success|failure|deferral): (.*)`)
)

func (d *daemon) results() map[string][]string {
	byNum := map[string]string{}
	out := map[string][]string{}
	for _, line := range strings.Split(d.log.String(), "\n") {
		if m := startingRE.FindStringSubmatch(line); m != nil {
			byNum[m[1]] = m[3]
			continue
		}
		if m := resultRE.FindStringSubmatch(line); m != nil {
			if rcpt, ok := byNum[m[1]]; ok {
				out[rcpt] = append(out[rcpt], m[2]+": "+m[3])
			}
		}
	}
	return out
}

// waitResult waits for the first result for rcpt and returns it.
func (d *daemon) waitResult(t *testing.T, rcpt string) string {
	t.Helper()
	var got string
	waitFor(t, "a delivery result for "+rcpt, 30*time.Second, func() bool {
		if r := d.results()[rcpt]; len(r) > 0 {
			got = r[0]
			return true
		}
		return false
	})
	return got
}

func sendMail(t *testing.T, addr, from, to, data string) {
	t.Helper()
	if err := smtp.SendMail(addr, nil, from, []string{to}, []byte(data)); err != nil {
		t.Fatalf("sending to %s: %v", to, err)
	}
}

func fileOwner(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(b)
}

// TestDotQmailAsRealUsers runs local delivery as qmail does, as real users
// made with useradd, through the running daemon over SMTP, and checks the
// files, their owners and what programs saw.
func TestDotQmailAsRealUsers(t *testing.T) {
	s := newRealSite(t)
	root := s.root
	hA, hB, hC := s.home(userA), s.home(userB), s.home(userC)
	hOther, hAlias := s.home(userOther), s.aliasHome()

	a := s.user(t, userA, map[string]string{
		".qmail-all":          "# every kind of line\n./mbox-all\n./maildir-all/\n|echo \"$EXT\" > ./prog-all\n&" + userB + "@localhost\n" + userC + "@localhost\n",
		".qmail-ext":          "./mbox-ext\n",
		".qmail-upper":        "./mbox-upper\n",
		".qmail-foo-default":  "./mbox-foo-default\n",
		".qmail-default":      "./mbox-default\n",
		".qmail-remote":       "&x@remote.example\n",
		".qmail-exit0":        "|exit 0\n./mbox-after0\n",
		".qmail-exit99":       "|exit 99\n./mbox-after99\n",
		".qmail-exit100":      "|echo no thanks; exit 100\n./mbox-after100\n",
		".qmail-exit111":      "|echo try later; exit 111\n",
		".qmail-env-default":  `|printf 'EXT=%s\nEXT2=%s\nDEFAULT=%s\nSENDER=%s\nRECIPIENT=%s\n%sUSER=%s\nUID=%s\n' "$EXT" "$EXT2" "$DEFAULT" "$SENDER" "$RECIPIENT" "$DTLINE" "$USER" "$(id -u)" > ./prog-env` + "\n",
		".qmail-stdin":        "|cat > ./prog-stdin\n",
		".qmail-loop":         "./mbox-loop\n",
		".qmail-wr":           "./mbox-wr\n",
		".qmail-virt-default": "./mbox-virt\n",
	})
	makeMaildir(t, filepath.Join(hA, "maildir-all"), a)
	os.Chmod(filepath.Join(hA, ".qmail-wr"), 0o666)

	// Writable by everyone, so only the ownership check can stop the
	// delivery.
	rootOwned := filepath.Join(s.base, "root-owned-file")
	write(t, rootOwned, "root's own\n")
	os.Chmod(rootOwned, 0o666)
	b := s.user(t, userB, map[string]string{".qmail-sym": "./symbox\n"})
	if err := os.Symlink(rootOwned, filepath.Join(hB, "symbox")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(hB, "symbox"), b.uid, b.gid)
	s.user(t, userC, map[string]string{".qmail": ""})
	realUser(t, userOther, hOther)
	makeHome(t, hOther, a, nil) // owned by gq3a, not gq3other
	// usermod refuses to touch a uid 0 account while root runs
	// processes, so this one's home is fixed; it is never used anyway.
	realUser(t, userZero, "/nonexistent", "--non-unique", "--uid", "0", "--gid", "0")
	alias := s.aliasUser(t, userAlias)

	s.configure(t, siteConfig{
		defaultDelivery: "./Mailbox",
		alias:           userAlias,
		postmaster:      userC + "@localhost",
		controls: map[string]string{
			"me":             "localhost\n",
			"rcpthosts":      "localhost\nvirt.example\n",
			"virtualdomains": "virt.example:" + userA + "-virt\n",
		},
	})
	addr := s.addr
	d := s.start(t)
	// The daemon dropped root; the local delivery helper kept it.
	daemonUser, _ := user.Lookup(userDaemon)
	if got := procUID(t, d.cmd.Process.Pid); strconv.Itoa(got) != daemonUser.Uid {
		t.Fatalf("the daemon runs as uid %d, want %s (%s)", got, daemonUser.Uid, userDaemon)
	}
	if helpers := pgrepHelper(t, root); len(helpers) != 1 || procUID(t, helpers[0]) != 0 {
		t.Fatalf("delivery helper processes %v: want one, running as root", helpers)
	}
	// The daemon made ~alias with .qmail-root; mail no one else owns goes
	// to ~alias/.qmail-default.
	if got := readFile(t, filepath.Join(hAlias, ".qmail-root")); got != "&"+userC+"@localhost\n" {
		t.Fatalf("~alias/.qmail-root = %q", got)
	}
	write(t, filepath.Join(hAlias, ".qmail-default"), "./aliasbox\n")
	os.Chown(filepath.Join(hAlias, ".qmail-default"), alias.uid, alias.gid)

	msg := func(token string, extra ...string) string {
		return strings.Join(extra, "") + "Subject: " + token + "\r\n\r\nbody of " + token + "\r\nFrom the start of a line\r\n"
	}
	type check func(t *testing.T)
	cases := []struct {
		name, rcpt, sender, data string
		want                     string // prefix of the first result
		check                    check
	}{
		{"every line type", userA + "-all@localhost", "s@example.org", msg("token-all"), "success: did_2+2+1", func(t *testing.T) {
			if !strings.Contains(readFile(t, filepath.Join(hA, "mbox-all")), "token-all") || fileOwner(t, filepath.Join(hA, "mbox-all")) != a.uid {
				t.Error("mbox line: not written by the user")
			}
			files, _ := filepath.Glob(filepath.Join(hA, "maildir-all", "new", "*"))
			if len(files) != 1 || fileOwner(t, files[0]) != a.uid {
				t.Errorf("maildir line: %v", files)
			}
			if got := readFile(t, filepath.Join(hA, "prog-all")); got != "all\n" {
				t.Errorf("program saw EXT=%q", got)
			}
			for _, h := range []string{hB, hC} {
				mb := filepath.Join(h, "Mailbox")
				waitFor(t, "the forward in "+mb, 20*time.Second, func() bool {
					b, _ := os.ReadFile(mb)
					return strings.Contains(string(b), "token-all")
				})
				if !strings.Contains(readFile(t, mb), "\nDelivered-To: "+userA+"-all@localhost\n") {
					t.Errorf("forwarded copy in %s lacks the forwarder's Delivered-To", mb)
				}
			}
		}},
		{".qmail-ext", userA + "-ext@localhost", "s@example.org", msg("token-ext"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hA, "mbox-ext"), "token-ext", "not in mbox-ext")
		}},
		{"an uppercase local part", "GQ3A-Upper@localhost", "s@example.org", msg("token-upper"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hA, "mbox-upper"), "token-upper", "not in mbox-upper")
		}},
		{".qmail-foo-default beats .qmail-default", userA + "-foo-bar@localhost", "s@example.org", msg("token-foobar"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hA, "mbox-foo-default"), "token-foobar", "not in mbox-foo-default")
		}},
		{".qmail-default catches the rest", userA + "-anything@localhost", "s@example.org", msg("token-anything"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hA, "mbox-default"), "token-anything", "not in mbox-default")
		}},
		{"an empty .qmail is the default delivery", userC + "@localhost", "s@example.org", msg("token-empty"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hC, "Mailbox"), "token-empty", "not in ~/Mailbox")
		}},
		{"no .qmail is the default delivery", userB + "@localhost", "s@example.org", msg("token-noqmail"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hB, "Mailbox"), "token-noqmail", "not in ~/Mailbox")
		}},
		{"a forward to a remote address", userA + "-remote@localhost", "s@example.org", msg("token-remote"), "success: did_0+1+0", func(t *testing.T) {
			d.waitResult(t, "x@remote.example")
		}},
		{"a program exiting 0", userA + "-exit0@localhost", "s@example.org", msg("token-exit0"), "success: did_1+0+1", func(t *testing.T) {
			wantIn(t, filepath.Join(hA, "mbox-after0"), "token-exit0", "the line after exit 0 did not run")
		}},
		{"a program exiting 99", userA + "-exit99@localhost", "s@example.org", msg("token-exit99"), "success: did_0+0+1", func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(hA, "mbox-after99")); err == nil {
				t.Error("the line after exit 99 ran")
			}
		}},
		{"a program exiting 100 bounces", userA + "-exit100@localhost", userC + "@localhost", msg("token-exit100"), "failure: no_thanks", func(t *testing.T) {
			waitFor(t, "the bounce", 20*time.Second, func() bool {
				b, _ := os.ReadFile(filepath.Join(hC, "Mailbox"))
				return strings.Contains(string(b), "<"+userA+"-exit100@localhost>:\nno thanks\n")
			})
			if _, err := os.Stat(filepath.Join(hA, "mbox-after100")); err == nil {
				t.Error("the line after exit 100 ran")
			}
		}},
		{"a program exiting 111 defers", userA + "-exit111@localhost", "s@example.org", msg("token-exit111"), "deferral: try_later", nil},
		{"the program environment", userA + "-env-x-y@localhost", "sender@example.org", msg("token-env"), "success", func(t *testing.T) {
			want := fmt.Sprintf("EXT=env-x-y\nEXT2=x-y\nDEFAULT=x-y\nSENDER=sender@example.org\nRECIPIENT=%s-env-x-y@localhost\nDelivered-To: %s-env-x-y@localhost\nUSER=%s\nUID=%d\n", userA, userA, userA, a.uid)
			if got := readFile(t, filepath.Join(hA, "prog-env")); got != want {
				t.Errorf("program environment:\n%s\nwant:\n%s", got, want)
			}
		}},
		{"a program gets the message on stdin", userA + "-stdin@localhost", "s@example.org", msg("token-stdin"), "success", func(t *testing.T) {
			if got := readFile(t, filepath.Join(hA, "prog-stdin")); !strings.Contains(got, "Subject: token-stdin\n") || strings.Contains(got, "Delivered-To") {
				t.Errorf("program stdin:\n%s", got)
			}
		}},
		{"a Delivered-To loop bounces", userA + "-loop@localhost", "s@example.org", msg("token-loop", "Delivered-To: "+userA+"-loop@localhost\r\n"), "failure: This_message_is_looping", func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(hA, "mbox-loop")); err == nil {
				t.Error("a looping message was delivered")
			}
		}},
		{"a user with uid 0 gets nothing; alias does", userZero + "@localhost", "s@example.org", msg("token-zero"), "success", func(t *testing.T) {
			box := filepath.Join(hAlias, "aliasbox")
			if !strings.Contains(readFile(t, box), "token-zero") || fileOwner(t, box) != alias.uid {
				t.Error("uid 0 account's mail is not in ~alias/aliasbox, written by alias")
			}
		}},
		{"a home owned by someone else is not used; alias is", userOther + "@localhost", "s@example.org", msg("token-other"), "success", func(t *testing.T) {
			wantIn(t, filepath.Join(hAlias, "aliasbox"), "token-other", "not in ~alias/aliasbox")
			if _, err := os.Stat(filepath.Join(hOther, "Mailbox")); err == nil {
				t.Error("delivered into a home the user does not own")
			}
		}},
		{"root's mail goes to ~alias/.qmail-root", "root@localhost", "s@example.org", msg("token-root"), "success: did_0+1+0", func(t *testing.T) {
			waitFor(t, "root's mail at the postmaster", 20*time.Second, func() bool {
				b, _ := os.ReadFile(filepath.Join(hC, "Mailbox"))
				return strings.Contains(string(b), "token-root")
			})
		}},
		{"a virtual domain goes to its prefix", "Info@virt.example", "s@example.org", msg("token-virt"), "success", func(t *testing.T) {
			got := readFile(t, filepath.Join(hA, "mbox-virt"))
			if !strings.Contains(got, "token-virt") || !strings.Contains(got, "\nDelivered-To: "+userA+"-virt-Info@virt.example\n") {
				t.Errorf("mbox-virt:\n%s", got)
			}
		}},
		{"a .qmail writable by others defers", userA + "-wr@localhost", "s@example.org", msg("token-wr"), "deferral: Uh-oh:_.qmail_file_is_writable", func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(hA, "mbox-wr")); err == nil {
				t.Error("delivered through a writable .qmail")
			}
		}},
		{"a symlinked mailbox to someone else's file defers", userB + "-sym@localhost", "s@example.org", msg("token-sym"), "deferral: Unable_to_open_./symbox:_it_is_a_symbolic_link", func(t *testing.T) {
			if got := readFile(t, rootOwned); got != "root's own\n" {
				t.Errorf("the file behind the symlink changed: %q", got)
			}
		}},
	}
	for _, tc := range cases {
		sendMail(t, addr, tc.sender, tc.rcpt, tc.data)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logged := tc.rcpt
			if tc.rcpt == "Info@virt.example" {
				// The log names the address with its virtualdomains prefix.
				logged = userA + "-virt-Info@virt.example"
			}
			got := d.waitResult(t, logged)
			t.Logf("%s: %s", logged, got)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("delivery to %s: %q, want %q", tc.rcpt, got, tc.want)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}

	// A real reader takes the user's mbox apart again: mblaze splits it
	// on From_ lines and unquotes ">From ".
	if _, err := exec.LookPath("mdeliver"); err == nil {
		split := t.TempDir()
		for _, dir := range []string{"cur", "new", "tmp"} {
			os.Mkdir(filepath.Join(split, dir), 0o700)
		}
		cmd := exec.Command("mdeliver", "-M", split)
		f, _ := os.Open(filepath.Join(hA, "mbox-all"))
		cmd.Stdin = f
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mdeliver: %v %s", err, out)
		}
		f.Close()
		files, _ := filepath.Glob(filepath.Join(split, "new", "*"))
		if len(files) != 1 || !strings.Contains(readFile(t, files[0]), "\nFrom the start of a line\n") {
			t.Errorf("mblaze read mbox-all as %d messages", len(files))
		}
	}
}

// procUID reads a process's real uid from /proc.
func procUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatalf("no Uid line for %d", pid)
	return -1
}

// pgrepHelper finds the helper process of the daemon on root, by its
// command line in /proc.
func pgrepHelper(t *testing.T, root string) []int {
	t.Helper()
	return pidsWithArgs(t, false, "helper", "--root", root)
}

// pidsWithArgs returns the processes whose command line holds args in a
// row, or, when whole, is exactly args.
func pidsWithArgs(t *testing.T, whole bool, args ...string) []int {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && (whole && string(cmdline) == want || !whole && strings.Contains(string(cmdline), want)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// wantIn fails t with what when the file at path does not hold token.
func wantIn(t *testing.T, path, token, what string) {
	t.Helper()
	if !strings.Contains(readFile(t, path), token) {
		t.Error(what)
	}
}
