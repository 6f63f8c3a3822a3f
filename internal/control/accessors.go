package control

import (
	"math"
	"time"
)

// Each accessor looks at its files again (see the package doc) and never
// fails: a file that is unreadable or malformed is reported to warn and its
// last good value, or else its default, is returned.

// spawnMax is qmail's conf-spawn, the most deliveries of one kind at a time.
const spawnMax = 120

// Me returns the first line of control/me and whether the file exists.
func (d *Dir) Me() (string, bool) {
	d.mu.Lock()
	defer d.unlock()
	return d.single("me")
}

// single returns the value of a single-value file and whether it exists.
// d.mu must be held.
func (d *Dir) single(name string) (string, bool) {
	s, ok := d.load(name).value.(string)
	return s, ok
}

// orMe returns the named file's value, else me's, else literal; ok is false
// only when both files are absent. d.mu must be held.
func (d *Dir) orMe(name, literal string) (value string, ok bool) {
	if s, ok := d.single(name); ok {
		return s, true
	}
	if s, ok := d.single("me"); ok {
		return s, true
	}
	return literal, false
}

func (d *Dir) stringOr(name, def string) string {
	d.mu.Lock()
	defer d.unlock()
	if s, ok := d.single(name); ok {
		return s
	}
	return def
}

func (d *Dir) meOr(name string) string {
	d.mu.Lock()
	defer d.unlock()
	s, _ := d.orMe(name, name)
	return s
}

func (d *Dir) meOnly(name string) (string, bool) {
	d.mu.Lock()
	defer d.unlock()
	return d.orMe(name, "")
}

// DefaultDomain returns defaultdomain, else me, else "defaultdomain".
func (d *Dir) DefaultDomain() string { return d.meOr("defaultdomain") }

// DefaultHost returns defaulthost, else me, else "defaulthost".
func (d *Dir) DefaultHost() string { return d.meOr("defaulthost") }

// PlusDomain returns plusdomain, else me, else "plusdomain".
func (d *Dir) PlusDomain() string { return d.meOr("plusdomain") }

// EnvNoAtHost returns envnoathost, else me, else "envnoathost".
func (d *Dir) EnvNoAtHost() string { return d.meOr("envnoathost") }

// IDHost returns idhost, else me, else "idhost".
func (d *Dir) IDHost() string { return d.meOr("idhost") }

// BounceHost returns bouncehost, else me, else "bouncehost".
func (d *Dir) BounceHost() string { return d.meOr("bouncehost") }

// DoubleBounceHost returns doublebouncehost, else me, else
// "doublebouncehost".
func (d *Dir) DoubleBounceHost() string { return d.meOr("doublebouncehost") }

// BounceFrom returns bouncefrom, else "MAILER-DAEMON" (not me: it is a local
// part).
func (d *Dir) BounceFrom() string { return d.stringOr("bouncefrom", "MAILER-DAEMON") }

// DoubleBounceTo returns doublebounceto, else "postmaster".
func (d *Dir) DoubleBounceTo() string { return d.stringOr("doublebounceto", "postmaster") }

// HeloHost returns helohost, else me. ok is false when neither exists, which
// qmail-remote treats as a temporary failure.
func (d *Dir) HeloHost() (string, bool) { return d.meOnly("helohost") }

// SMTPGreeting returns smtpgreeting, else me. ok is false when neither
// exists, which qmail-smtpd answers with 421.
func (d *Dir) SMTPGreeting() (string, bool) { return d.meOnly("smtpgreeting") }

// LocalIPHost returns localiphost, else me. ok is false when neither exists,
// which turns off the [local.ip] replacement.
func (d *Dir) LocalIPHost() (string, bool) { return d.meOnly("localiphost") }

// Locals returns the local domains: locals, else a set holding me, else (or
// when me is empty) the empty set. qmail-send refuses to start on the empty
// set; that decision is the caller's.
func (d *Dir) Locals() DomainSet {
	d.mu.Lock()
	defer d.unlock()
	l := d.load("locals")
	if set, ok := l.value.(DomainSet); ok {
		return set
	}
	me := d.load("me")
	return d.locals.get(l.gen, me.gen, func() DomainSet {
		s, _ := me.value.(string)
		return singleDomain(s)
	})
}

// RcptHosts returns the domains this host accepts mail for: rcpthosts and
// morercpthosts together, and whether rcpthosts exists. morercpthosts counts
// only with rcpthosts, as in qmail. When rcpthosts is absent, or has never
// been good, present is false and the caller decides what to accept; it must
// not be read as "accept everything" when the file was broken.
func (d *Dir) RcptHosts() (set DomainSet, present bool) {
	d.mu.Lock()
	defer d.unlock()
	r := d.load("rcpthosts")
	rset, ok := r.value.(DomainSet)
	if !ok {
		return DomainSet{}, false
	}
	m := d.load("morercpthosts")
	mset, ok := m.value.(DomainSet)
	if !ok || mset.Len() == 0 {
		return rset, true
	}
	return d.rcpt.get(r.gen, m.gen, func() DomainSet { return union(rset, mset) }), true
}

// get returns the cached set if it was built from the same generations, else
// builds and caches it.
func (c *derived) get(gen1, gen2 uint64, build func() DomainSet) DomainSet {
	if !c.valid || c.gens != [2]uint64{gen1, gen2} {
		c.set, c.gens, c.valid = build(), [2]uint64{gen1, gen2}, true
	}
	return c.set
}

// VirtualDomains returns the virtualdomains entries; empty when absent.
func (d *Dir) VirtualDomains() *VirtualDomains {
	d.mu.Lock()
	defer d.unlock()
	if v, ok := d.load("virtualdomains").value.(*VirtualDomains); ok {
		return v
	}
	return &VirtualDomains{}
}

// SMTPRoutes returns the smtproutes entries; empty when absent.
func (d *Dir) SMTPRoutes() *SMTPRoutes {
	d.mu.Lock()
	defer d.unlock()
	if r, ok := d.load("smtproutes").value.(*SMTPRoutes); ok {
		return r
	}
	return &SMTPRoutes{}
}

// BadMailFrom returns the badmailfrom entries; empty when absent.
func (d *Dir) BadMailFrom() *BadMailFrom {
	d.mu.Lock()
	defer d.unlock()
	if b, ok := d.load("badmailfrom").value.(*BadMailFrom); ok {
		return b
	}
	return &BadMailFrom{}
}

// AuthSenders returns the authsenders entries; empty when absent.
func (d *Dir) AuthSenders() *AuthSenders {
	d.mu.Lock()
	defer d.unlock()
	if a, ok := d.load("authsenders").value.(*AuthSenders); ok {
		return a
	}
	return &AuthSenders{}
}

// integer returns the value of an integer file, else def.
func (d *Dir) integer(name string, def int64) int64 {
	d.mu.Lock()
	defer d.unlock()
	if n, ok := d.load(name).value.(int64); ok {
		return n
	}
	return def
}

// seconds converts a count of seconds, saturating instead of overflowing.
func seconds(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}

// timeout converts a timeout file's seconds. 0 becomes 1s: qmail's 0 means
// "give up at once", while a zero time.Duration in a Go deadline or dialer
// means "never", which would turn a typo into a hung connection.
func (d *Dir) timeout(name string, def int64) time.Duration {
	n := d.integer(name, def)
	if n <= 0 {
		n = 1
	}
	return seconds(n)
}

// Databytes returns the largest message size accepted by SMTP, in bytes;
// 0 means no limit.
func (d *Dir) Databytes() int64 { return d.integer("databytes", 0) }

// ConcurrencyLocal returns how many local deliveries may run at once: default
// 10, at most 120. 0 holds local deliveries.
func (d *Dir) ConcurrencyLocal() int {
	return int(min(d.integer("concurrencylocal", 10), spawnMax))
}

// ConcurrencyRemote returns how many remote deliveries may run at once:
// default 20, at most 120. 0 holds remote deliveries.
func (d *Dir) ConcurrencyRemote() int {
	return int(min(d.integer("concurrencyremote", 20), spawnMax))
}

// QueueLifetime returns how long a message may stay in the queue before it
// bounces: default 604800 seconds (a week).
func (d *Dir) QueueLifetime() time.Duration { return seconds(d.integer("queuelifetime", 604800)) }

// TimeoutSMTPD returns how long the SMTP server waits for each read or write:
// default 1200 seconds, at least 1.
func (d *Dir) TimeoutSMTPD() time.Duration { return d.timeout("timeoutsmtpd", 1200) }

// TimeoutConnect returns how long an outgoing SMTP connection may take to be
// established: default 60 seconds, at least 1.
func (d *Dir) TimeoutConnect() time.Duration { return d.timeout("timeoutconnect", 60) }

// TimeoutRemote returns how long the SMTP client waits for each read or
// write: default 1200 seconds, at least 1.
func (d *Dir) TimeoutRemote() time.Duration { return d.timeout("timeoutremote", 1200) }
