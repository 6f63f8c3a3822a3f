// Package config reads qmail.toml, the daemon settings that qmail never had
// a control file for. Every key is optional and has a documented default;
// an unknown key, a value of the wrong type or a value that does not make
// sense is an error that names the file, and the line where it can.
//
// # Format
//
//	[smtp]
//	listen = ["127.0.0.1:2525"]     # addresses the SMTP daemon listens on
//	relay_from = ["127.0.0.0/8", "::1/128"]  # clients that may relay
//	max_message_bytes = 41943040    # hard ceiling even when control/databytes is 0 (40 MiB)
//	max_connections = 200           # SMTP sessions at once; one more gets 421
//	max_connections_per_ip = 20     # sessions from one client address (relay_from clients excepted)
//	max_recipients = 1000           # recipients of one message; more get 452
//	max_session_time = "30m"        # a session is closed after this long, whatever it does
//	stress_timeout = "10s"          # idle timeout while 80% of max_connections are in use
//	verify_local_recipients = true  # refuse unknown local recipients at RCPT (qmail: accept, then bounce)
//	queue_filter = []               # program (argv) with qmail-queue's interface that judges each message
//	filter_timeout = "2m"           # a queue_filter running longer is a 451
//
//	[[smtp.listener]]               # more listeners, each a table of its own
//	address = "0.0.0.0:587"
//	submission = true               # AUTH required (after TLS) before MAIL; authenticated clients relay
//	implicit_tls = false            # TLS from the first byte (port 465)
//
//	[tls]
//	cert = "control/servercert.pem" # certificate chain, PEM; relative to the root; re-read when it changes
//	key = ""                        # private key, PEM; empty: in the cert file, as qmail's TLS patch keeps it
//	required = false                # a missing or broken certificate stops the daemon (else: a warning, no STARTTLS)
//
//	[auth]
//	checkpassword = []              # checkpassword program (argv) run by the root helper; empty: qmaild's own table
//	restrict_senders = true         # an authenticated client sends only as its own addresses
//	check_from_header = true        # and the From: header's addresses too
//	max_failures = 10               # failed logins per client address in failure_window before AUTH is refused
//	failure_window = "15m"
//
//	[delivery]
//	defaultdelivery = "./Mailbox"   # or "./Maildir/", or "|dot-forward .forward\n./Mailbox": what an absent or empty .qmail means
//	program_timeout = "16m40s"      # a .qmail program running longer is killed (Postfix's 1000 s)
//
//	[users]
//	daemon = "qmaild"               # user the daemon runs as after binding, when started as root
//	alias = "alias"                 # account for addresses no user owns (~alias/.qmail-*)
//	postmaster = ""                 # where mail for postmaster, root and MAILER-DAEMON goes
//
//	[remote]
//	port = 25                       # SMTP port of mail exchangers (tests use another)
//	starttls = "may"                # "may", "verify" or "never"
//	plain_fallback = true           # after a failed TLS handshake, send in plain
//	group_recipients = false        # one transaction for the recipients of a message at one domain
//
//	[dns]
//	servers = []                    # "host:port" name servers; empty: /etc/resolv.conf
//
//	[log]
//	format = "plain"                # "plain" (qmail-send's lines) or "json"
//
// Defaults are those above, except that an instance started by an ordinary
// user listens on 127.0.0.1:2525 and delivers to ./Maildir/ (see Defaults).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the parsed qmail.toml.
type Config struct {
	SMTP     SMTP     `toml:"smtp"`
	Delivery Delivery `toml:"delivery"`
	Users    Users    `toml:"users"`
	Remote   Remote   `toml:"remote"`
	DNS      DNS      `toml:"dns"`
	Log      Log      `toml:"log"`
	TLS      TLS      `toml:"tls"`
	Auth     Auth     `toml:"auth"`
}

// Listener is one more SMTP listener with its own role, beside
// smtp.listen's plain ones.
type Listener struct {
	Address string `toml:"address"`
	// Submission makes it a message submission port (RFC 6409): AUTH is
	// offered once the session is encrypted, MAIL needs it, and the
	// authenticated client may relay.
	Submission bool `toml:"submission"`
	// ImplicitTLS starts TLS at once, before the greeting (port 465).
	ImplicitTLS bool `toml:"implicit_tls"`
}

// TLS names the server's certificate.
type TLS struct {
	// Cert and Key are PEM files, relative to the root unless absolute.
	// An empty Key means the key is in Cert, as control/servercert.pem
	// holds both under qmail's TLS patch.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Required makes a missing or broken certificate a startup error;
	// otherwise the daemon warns and offers no TLS until one appears.
	Required bool `toml:"required"`
}

// Auth configures SMTP AUTH on submission listeners.
type Auth struct {
	// Checkpassword is the program, with its arguments, that checks a
	// login (the checkpassword interface); empty means qmaild's own,
	// over users/passwd.db.
	Checkpassword []string `toml:"checkpassword"`
	// RestrictSenders lets an authenticated client use as envelope
	// sender only the addresses that are its own.
	RestrictSenders bool `toml:"restrict_senders"`
	// CheckFromHeader applies the same rule to the From: header.
	CheckFromHeader bool `toml:"check_from_header"`
	// MaxFailures failed logins from one client address within
	// FailureWindow make further AUTH commands from it refused.
	MaxFailures   int           `toml:"max_failures"`
	FailureWindow time.Duration `toml:"failure_window"`
}

// Remote configures remote delivery.
type Remote struct {
	// Port is the SMTP port of mail exchangers and of smtproutes relays
	// that name none.
	Port int `toml:"port"`
	// StartTLS is "may" (STARTTLS when offered, any certificate),
	// "verify" (when offered, the certificate must verify) or "never".
	StartTLS string `toml:"starttls"`
	// PlainFallback sends in plain after a failed TLS handshake or
	// certificate check.
	PlainFallback bool `toml:"plain_fallback"`
	// GroupRecipients sends the recipients of one message at one domain
	// in one SMTP transaction; qmail sends each alone.
	GroupRecipients bool `toml:"group_recipients"`
}

// DNS names the resolvers remote delivery asks.
type DNS struct {
	Servers []string `toml:"servers"`
}

// SMTP configures the SMTP listener.
type SMTP struct {
	Listen []string `toml:"listen"`
	// RelayFrom lists the networks whose clients may send to any domain.
	RelayFrom []string `toml:"relay_from"`
	// MaxMessageBytes bounds a message even when control/databytes is 0.
	// Messages are streamed to disk, so this bounds disk, not memory.
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// MaxConnections bounds the SMTP sessions at once, as tcpserver -c
	// does for qmail-smtpd; one more is answered 421.
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP bounds the sessions from one client address,
	// as Postfix's smtpd_client_connection_count_limit does; clients in
	// relay_from are not counted, as Postfix exempts mynetworks.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// MaxRecipients bounds the recipients of one message.
	MaxRecipients int `toml:"max_recipients"`
	// MaxSessionTime bounds a session however busy it keeps: a client
	// that trickles a byte at a time is cut off after it.
	MaxSessionTime time.Duration `toml:"max_session_time"`
	// StressTimeout replaces control/timeoutsmtpd while at least 80% of
	// MaxConnections are in use, as Postfix shortens its timeouts under
	// stress.
	StressTimeout time.Duration `toml:"stress_timeout"`
	// VerifyLocalRecipients refuses at RCPT an address at a local or
	// virtual domain that no user, extension file or alias accepts;
	// qmail accepts it and bounces it later.
	VerifyLocalRecipients bool `toml:"verify_local_recipients"`
	// QueueFilter is a program, with its arguments, that gets each
	// message and its envelope as qmail-queue does before the message is
	// accepted; its exit code decides the reply.
	QueueFilter []string `toml:"queue_filter"`
	// FilterTimeout bounds the filter's run; past it the reply is 451.
	FilterTimeout time.Duration `toml:"filter_timeout"`
	// Listeners are more listeners, with roles (submission, TLS).
	Listeners []Listener `toml:"listener"`

	relayFrom []netip.Prefix
}

// Delivery configures local delivery.
type Delivery struct {
	DefaultDelivery string `toml:"defaultdelivery"`
	// ProgramTimeout ends a .qmail program (and everything in its
	// process group) that runs longer, as Postfix's command_time_limit;
	// the delivery is deferred. qmail has no limit.
	ProgramTimeout time.Duration `toml:"program_timeout"`
}

// Users names the accounts the daemon uses.
type Users struct {
	Daemon string `toml:"daemon"`
	// Alias is the account that receives mail for addresses no user
	// owns, by its .qmail-* files, as qmail's alias user.
	Alias string `toml:"alias"`
	// Postmaster is the address that a new root's ~alias/.qmail-postmaster,
	// .qmail-mailer-daemon and .qmail-root forward to; empty leaves those
	// files empty, which delivers to ~alias's default delivery.
	Postmaster string `toml:"postmaster"`
}

// Log configures the log.
type Log struct {
	Format string `toml:"format"`
}

// Defaults returns the settings used for keys that qmail.toml leaves out.
// asRoot is whether the daemon was started as root: an ordinary user gets
// an unprivileged port and Maildir delivery into their own home.
func Defaults(asRoot bool) Config {
	c := Config{
		SMTP: SMTP{
			Listen:    []string{"0.0.0.0:25"},
			RelayFrom: []string{"127.0.0.0/8", "::1/128"},
			// Postfix's 10 MB refuses today's mail: a 25 MB attachment
			// (what the large webmail services send) is 34 MB in
			// base64. 40 MiB takes it with room for the rest.
			MaxMessageBytes: 40 << 20,
			MaxConnections:  200,
			// Postfix lets one client take 50 of its 100 smtpd
			// processes (smtpd_client_connection_count_limit). Here one
			// address may take a tenth of the sessions: ten addresses,
			// not two, are needed to fill the server. Relay clients
			// (relay_from) are exempt, as Postfix exempts mynetworks.
			MaxConnectionsPerIP:   20,
			MaxRecipients:         1000,
			MaxSessionTime:        30 * time.Minute,
			StressTimeout:         10 * time.Second,
			VerifyLocalRecipients: true,
			FilterTimeout:         2 * time.Minute,
		},
		TLS:      TLS{Cert: "control/servercert.pem"},
		Auth:     Auth{RestrictSenders: true, CheckFromHeader: true, MaxFailures: 10, FailureWindow: 15 * time.Minute},
		Delivery: Delivery{DefaultDelivery: "./Mailbox", ProgramTimeout: 1000 * time.Second},
		Users:    Users{Daemon: "qmaild", Alias: "alias"},
		Remote:   Remote{Port: 25, StartTLS: "may", PlainFallback: true},
		Log:      Log{Format: "plain"},
	}
	if !asRoot {
		c.SMTP.Listen = []string{"127.0.0.1:2525"}
		c.Delivery.DefaultDelivery = "./Maildir/"
	}
	return c
}

// Load reads the file at path over the defaults. A missing file is an
// error: the daemon creates one before it loads it.
func Load(path string, defaults Config) (*Config, error) {
	c := defaults
	// Lists given in the file replace the defaults rather than append.
	c.SMTP.Listen, c.SMTP.RelayFrom, c.DNS.Servers = nil, nil, nil
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if !md.IsDefined("smtp", "listen") {
		c.SMTP.Listen = defaults.SMTP.Listen
	}
	if !md.IsDefined("smtp", "relay_from") {
		c.SMTP.RelayFrom = defaults.SMTP.RelayFrom
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	for _, l := range c.SMTP.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fmt.Errorf("smtp.listen: %q is not host:port", l)
		}
	}
	for i, l := range c.SMTP.Listeners {
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("smtp.listener[%d].address: %q is not host:port", i, l.Address)
		}
	}
	if c.SMTP.FilterTimeout <= 0 {
		return fmt.Errorf("smtp.filter_timeout: %v is not a positive duration", c.SMTP.FilterTimeout)
	}
	if len(c.SMTP.QueueFilter) > 0 && !strings.HasPrefix(c.SMTP.QueueFilter[0], "/") {
		return fmt.Errorf("smtp.queue_filter: %q is not an absolute path", c.SMTP.QueueFilter[0])
	}
	if len(c.Auth.Checkpassword) > 0 && !strings.HasPrefix(c.Auth.Checkpassword[0], "/") {
		return fmt.Errorf("auth.checkpassword: %q is not an absolute path", c.Auth.Checkpassword[0])
	}
	if c.TLS.Cert == "" && c.TLS.Required {
		return errors.New("tls.required is set but tls.cert is empty")
	}
	if c.Auth.MaxFailures <= 0 {
		return fmt.Errorf("auth.max_failures: %d is not a positive number", c.Auth.MaxFailures)
	}
	if c.Auth.FailureWindow <= 0 {
		return fmt.Errorf("auth.failure_window: %v is not a positive duration", c.Auth.FailureWindow)
	}
	c.SMTP.relayFrom = c.SMTP.relayFrom[:0]
	for _, r := range c.SMTP.RelayFrom {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return fmt.Errorf("smtp.relay_from: %q is not a network in CIDR form", r)
		}
		c.SMTP.relayFrom = append(c.SMTP.relayFrom, p.Masked())
	}
	if c.SMTP.MaxConnections <= 0 {
		return fmt.Errorf("smtp.max_connections: %d is not a positive number", c.SMTP.MaxConnections)
	}
	if c.SMTP.MaxMessageBytes <= 0 {
		return fmt.Errorf("smtp.max_message_bytes: %d is not a positive size", c.SMTP.MaxMessageBytes)
	}
	if c.SMTP.MaxConnectionsPerIP <= 0 {
		return fmt.Errorf("smtp.max_connections_per_ip: %d is not a positive number", c.SMTP.MaxConnectionsPerIP)
	}
	if c.SMTP.MaxRecipients <= 0 {
		return fmt.Errorf("smtp.max_recipients: %d is not a positive number", c.SMTP.MaxRecipients)
	}
	if c.SMTP.MaxSessionTime <= 0 {
		return fmt.Errorf("smtp.max_session_time: %v is not a positive duration", c.SMTP.MaxSessionTime)
	}
	if c.SMTP.StressTimeout <= 0 {
		return fmt.Errorf("smtp.stress_timeout: %v is not a positive duration", c.SMTP.StressTimeout)
	}
	if err := checkDefaultDelivery(c.Delivery.DefaultDelivery); err != nil {
		return err
	}
	if c.Delivery.ProgramTimeout <= 0 {
		return fmt.Errorf("delivery.program_timeout: %v is not a positive duration", c.Delivery.ProgramTimeout)
	}
	if c.Users.Daemon == "" {
		return errors.New("users.daemon: empty user name")
	}
	if c.Users.Alias == "" {
		return errors.New("users.alias: empty user name")
	}
	if strings.ContainsAny(c.Users.Postmaster, " \t\n\x00") {
		return fmt.Errorf("users.postmaster: %q is not an address", c.Users.Postmaster)
	}
	if c.Remote.Port < 1 || c.Remote.Port > 65535 {
		return fmt.Errorf("remote.port: %d is not a port", c.Remote.Port)
	}
	switch c.Remote.StartTLS {
	case "may", "verify", "never":
	default:
		return fmt.Errorf("remote.starttls: %q is not \"may\", \"verify\" or \"never\"", c.Remote.StartTLS)
	}
	for _, s := range c.DNS.Servers {
		host := s
		if h, _, err := net.SplitHostPort(s); err == nil {
			host = h
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("dns.servers: %q is not an address or address:port", s)
		}
	}
	switch c.Log.Format {
	case "plain", "json":
	default:
		return fmt.Errorf("log.format: %q is neither \"plain\" nor \"json\"", c.Log.Format)
	}
	return nil
}

// MayRelay reports whether a client at ip is in smtp.relay_from.
func (s *SMTP) MayRelay(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.relayFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Template returns the text of a new qmail.toml that shows every key with
// the value in force.
func Template(c Config) string {
	q := func(list []string) string {
		parts := make([]string, len(list))
		for i, s := range list {
			parts[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf(`# gqmail daemon settings. Every key is optional; the values below are
# the defaults this file was made with. qmail's own settings live in
# control/ (me, locals, rcpthosts, databytes, concurrencyremote, ...).

[smtp]
# Addresses the SMTP daemon listens on.
listen = %s
# Clients in these networks may relay (send to any domain).
relay_from = %s
# Hard ceiling on a message, even when control/databytes is 0 (no limit).
# Messages are streamed to disk as they arrive; this bounds disk, not memory.
max_message_bytes = %d
# SMTP sessions at once (tcpserver -c); one more is answered 421.
max_connections = %d
# Sessions from one client address; relay_from clients are not counted.
max_connections_per_ip = %d
# Recipients of one message; more are answered 452.
max_recipients = %d
# A session is closed after this long, however busy it keeps.
max_session_time = %q
# Idle timeout instead of control/timeoutsmtpd while 80%% of max_connections
# are in use.
stress_timeout = %q
# Refuse at RCPT an address at a local or virtual domain that no user,
# .qmail-ext or -default file, or alias accepts (550 5.1.1). qmail accepts
# such mail and bounces it later; false restores that.
verify_local_recipients = %v
# A program with qmail-queue's interface (message on fd 0, envelope on
# fd 1) that judges each message before it is accepted: exit 0 accepts,
# 31 refuses (554), 71 defers (451), as qmail-smtpd maps qmail-queue's
# codes. Absolute path first, then arguments; empty: none.
queue_filter = %s
# A filter running longer is killed and the client told 451.
filter_timeout = %q

# More listeners, one table each. A submission listener offers AUTH once
# the session is encrypted, takes mail only from authenticated clients
# and lets them relay; implicit_tls starts TLS before the greeting (465).
#[[smtp.listener]]
#address = "0.0.0.0:587"
#submission = true
#[[smtp.listener]]
#address = "0.0.0.0:465"
#submission = true
#implicit_tls = true

[delivery]
# What an absent or empty .qmail file means: "./Mailbox" (mbox) or
# "./Maildir/" (maildir), relative to the user's home. Lines are separated
# by \n: "|dot-forward .forward\n./Mailbox" reads ~/.forward first.
defaultdelivery = %q
# A .qmail program running longer is killed with its process group, and
# the delivery deferred (Postfix's command_time_limit).
program_timeout = %q

[users]
# The account the daemon runs as once it has bound its ports, when it is
# started as root.
daemon = %q
# The account that gets mail for addresses no user owns, by the .qmail-*
# files in its home (qmail's alias user).
alias = %q
# Where ~alias/.qmail-postmaster, .qmail-mailer-daemon and .qmail-root
# forward when a new root makes them; empty: ~alias's default delivery.
postmaster = %q

[remote]
# The SMTP port of mail exchangers, and of smtproutes relays that name none.
port = %d
# "may": STARTTLS when a host offers it, whatever its certificate (Postfix's
# "may"); "verify": when offered, the certificate must verify; "never".
starttls = %q
# After a failed TLS handshake or certificate check, send in plain.
plain_fallback = %v
# Send the recipients of one message at one domain in one SMTP transaction
# (each still gets its own result); qmail sends one recipient at a time.
group_recipients = %v

[dns]
# Name servers ("address" or "address:port"); empty: /etc/resolv.conf.
servers = %s

[log]
# "plain" (qmail-send's lines) or "json".
format = %q

[tls]
# The server's certificate chain and key, PEM, relative to the root unless
# absolute; an empty key means the key is in the cert file (qmail's TLS
# patch keeps both in control/servercert.pem). They are re-read when they
# change, so a renewed certificate needs no restart. The daemon runs as
# users.daemon and must be able to read them.
cert = %q
key = %q
# true: a missing or broken certificate stops the daemon at start. false:
# a warning, and STARTTLS is offered once a good certificate is there.
required = %v

[auth]
# The checkpassword program (absolute path, then arguments) the root
# helper runs for each AUTH; empty: qmaild's own, over users/passwd.db
# (qmailctl passwd).
checkpassword = %s
# An authenticated client may send only as its own addresses: its login,
# the addresses that deliver to its account (users/assign, the password
# file, virtual domains) and its lines in control/authsenders.
restrict_senders = %v
# Apply the same rule to the addresses in the From: header.
check_from_header = %v
# After this many failed logins from one client address within
# failure_window, AUTH from that address is refused until the window ends.
max_failures = %d
failure_window = %q
`, q(c.SMTP.Listen), q(c.SMTP.RelayFrom), c.SMTP.MaxMessageBytes, c.SMTP.MaxConnections,
		c.SMTP.MaxConnectionsPerIP, c.SMTP.MaxRecipients, c.SMTP.MaxSessionTime.String(), c.SMTP.StressTimeout.String(),
		c.SMTP.VerifyLocalRecipients, q(c.SMTP.QueueFilter), c.SMTP.FilterTimeout.String(), c.Delivery.DefaultDelivery, c.Delivery.ProgramTimeout.String(), c.Users.Daemon, c.Users.Alias, c.Users.Postmaster,
		c.Remote.Port, c.Remote.StartTLS, c.Remote.PlainFallback, c.Remote.GroupRecipients, q(c.DNS.Servers), c.Log.Format,
		c.TLS.Cert, c.TLS.Key, c.TLS.Required, q(c.Auth.Checkpassword), c.Auth.RestrictSenders, c.Auth.CheckFromHeader,
		c.Auth.MaxFailures, c.Auth.FailureWindow.String())
}

// checkDefaultDelivery accepts what qmail-start's defaultdelivery may be
// here: one or more lines, separated by newlines (qmail's documented
// "|dot-forward .forward\n./Mailbox"), each a mailbox (./Mailbox), a
// maildir (./Maildir/) or a program (|command): no empty line, no NUL.
func checkDefaultDelivery(dd string) error {
	for _, line := range strings.Split(dd, "\n") {
		if line == "" || !strings.ContainsAny(line[:1], "./|") || strings.ContainsRune(line, 0) {
			return fmt.Errorf("delivery.defaultdelivery: %q is not a mailbox (./Mailbox), maildir (./Maildir/) or program (|dot-forward .forward) line, one a line", dd)
		}
	}
	return nil
}
