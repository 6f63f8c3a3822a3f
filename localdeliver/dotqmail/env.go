package dotqmail

import "strings"

// Delivery is what Env needs to know about one delivery: qmail-local's
// arguments and the NEWSENDER computed for them.
type Delivery struct {
	User      string // the user name
	Home      string // the home directory
	Local     string // the local part of the recipient, original case
	Domain    string // the domain of the recipient
	Sender    string // the envelope sender
	NewSender string // from NewSender
	Ext       string // the extension, original case
}

// Env returns the environment qmail-local gives programs, as "KEY=value"
// strings in a fixed order: USER HOME LOCAL HOST HOST2 HOST3 HOST4
// RECIPIENT SENDER NEWSENDER EXT EXT2 EXT3 EXT4 DTLINE RPLINE UFLINE, then
// DEFAULT only when t.HasDefault. dtline, rpline and ufline are the
// mailbox package's DTLine, RPLine and UFLine. Values are raw. The caller
// appends the result to the inherited environment (os/exec keeps the last
// of duplicate keys) and should drop any inherited DEFAULT.
func Env(d Delivery, t Target, dtline, rpline, ufline string) []string {
	env := []string{
		"USER=" + d.User,
		"HOME=" + d.Home,
		"LOCAL=" + d.Local,
		"HOST=" + d.Domain,
		"HOST2=" + hostCut(d.Domain, 1),
		"HOST3=" + hostCut(d.Domain, 2),
		"HOST4=" + hostCut(d.Domain, 3),
		"RECIPIENT=" + d.Local + "@" + d.Domain,
		"SENDER=" + d.Sender,
		"NEWSENDER=" + d.NewSender,
		"EXT=" + d.Ext,
		"EXT2=" + extCut(d.Ext, 1),
		"EXT3=" + extCut(d.Ext, 2),
		"EXT4=" + extCut(d.Ext, 3),
		"DTLINE=" + dtline,
		"RPLINE=" + rpline,
		"UFLINE=" + ufline,
	}
	if t.HasDefault {
		env = append(env, "DEFAULT="+t.Default)
	}
	return env
}

// hostCut is host cut before its n-th dot from the right. Like qmail's
// repeated byte_rchr, a cut that finds no dot leaves the string as it was,
// so "a.b" gives "a" for every n and "localhost" gives itself.
func hostCut(host string, n int) string {
	for ; n > 0; n-- {
		if i := strings.LastIndexByte(host, '.'); i >= 0 {
			host = host[:i]
		}
	}
	return host
}

// extCut is ext after its n-th "-", or "" when it has fewer.
func extCut(ext string, n int) string {
	for ; n > 0; n-- {
		i := strings.IndexByte(ext, '-')
		if i < 0 {
			return ""
		}
		ext = ext[i+1:]
	}
	return ext
}
