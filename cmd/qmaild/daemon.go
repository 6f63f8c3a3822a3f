package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gqmail/gqmail/engine"
	"github.com/gqmail/gqmail/frontends/admin"
	"github.com/gqmail/gqmail/frontends/inject"
	"github.com/gqmail/gqmail/frontends/smtp"
	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/internal/servertls"
	"github.com/gqmail/gqmail/localdeliver"
	"github.com/gqmail/gqmail/remotedeliver"
	"github.com/gqmail/gqmail/store"
)

// setup is what runDaemon builds before it serves.
type setup struct {
	paths    layout.Paths
	cfg      *config.Config
	log      *qlog.Logger
	controls *control.Dir
}

// prepare makes the root, reads qmail.toml and checks the control files.
func prepare(root string, asRoot bool) (*setup, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	p := layout.For(abs)
	defaults := config.Defaults(asRoot)
	opts := layout.Options{Hostname: layout.Hostname(), ConfigText: config.Template(defaults)}
	if !asRoot {
		me, err := currentOwner()
		if err != nil {
			return nil, err
		}
		opts.Playground = me
	}
	if err := layout.Ensure(p, opts); err != nil {
		return nil, err
	}
	if opts.Playground != nil {
		if err := playgroundTable(p, opts.Playground); err != nil {
			return nil, err
		}
	}
	cfg, err := config.Load(p.Config, defaults)
	if err != nil {
		return nil, err
	}
	log := qlog.New(os.Stderr, cfg.Log.Format)
	controls := control.Open(p.Control, func(err error) { log.Warning("%v; keeping the last good value", err) })
	if err := controls.Check(); err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return &setup{paths: p, cfg: cfg, log: log, controls: controls}, nil
}

// loadCerts loads the TLS certificate named in qmail.toml, relative to the
// root. A certificate that does not load stops the daemon when TLS is
// required; otherwise the Loader has warned, and it picks the files up
// when they appear.
func loadCerts(p layout.Paths, c config.TLS, log *qlog.Logger) (*servertls.Loader, error) {
	if c.Cert == "" {
		return nil, nil
	}
	abs := func(name string) string {
		if name == "" || filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(p.Root, name)
	}
	l := &servertls.Loader{CertFile: abs(c.Cert), KeyFile: abs(c.Key)}
	if err := l.Load(); err != nil {
		if c.Required {
			return nil, fmt.Errorf("tls.required is set and the certificate does not load: %w", err)
		}
		log.Warning("TLS certificate: %v; STARTTLS is not offered until it can be loaded", err)
	}
	// Later reloads warn as they find trouble.
	l.Warn = func(format string, args ...any) { log.Warning(format, args...) }
	return l, nil
}

// queueFilter is smtp.queue_filter's program, or nil.
func queueFilter(c config.SMTP) *smtp.Filter {
	if len(c.QueueFilter) == 0 {
		return nil
	}
	return &smtp.Filter{Argv: c.QueueFilter, Timeout: c.FilterTimeout}
}

// helperChecks asks the root helper the questions the SMTP server cannot
// answer itself: whether a local address has a mailbox, and whether a
// login's password is right.
type helperChecks struct{ c *localdeliver.Client }

func (h helperChecks) CheckRecipient(ctx context.Context, deliver string) (bool, string, error) {
	info, err := h.c.CheckRecipient(ctx, deliver)
	return info.Exists, info.Account, err
}

func (h helperChecks) Authenticate(ctx context.Context, login, password string, client netip.Addr) (bool, error) {
	r, err := h.c.CheckPassword(ctx, login, password, client.String())
	return r == localdeliver.AuthAccepted, err
}

// playgroundTable gives every local address to the playground's owner,
// when the root has no assignment table yet: with an empty dash, mail for
// any address goes to its .qmail, or without one to the default delivery.
func playgroundTable(p layout.Paths, owner *layout.Owner) error {
	if _, err := os.Lstat(p.Assign); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	home, err := filepath.Abs(p.Home)
	if err != nil {
		return err
	}
	return store.WriteAssignTable(p.Assign, []store.AssignEntry{
		{Wildcard: true, Local: "", User: owner.User, UID: owner.UID, GID: owner.GID, Home: home},
	})
}

func currentOwner() (*layout.Owner, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("cannot find the current user: %w", err)
	}
	return layout.OwnerOf(u.Username, u.Uid, u.Gid)
}

func lookupOwner(name string) (*layout.Owner, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("daemon user %q (qmail.toml [users] daemon): %w; create it (useradd -r -s /usr/sbin/nologin %s) or name another", name, err, name)
	}
	o, err := layout.OwnerOf(u.Username, u.Uid, u.Gid)
	if err == nil && o.UID == 0 {
		err = fmt.Errorf("daemon user %q has uid 0; the daemon must not keep root", name)
	}
	return o, err
}

func runDaemon(root string) error {
	asRoot := os.Geteuid() == 0
	s, err := prepare(root, asRoot)
	if err != nil {
		return err
	}
	var daemonUser *layout.Owner
	if asRoot {
		if daemonUser, err = lookupOwner(s.cfg.Users.Daemon); err != nil {
			return err
		}
		if err := layout.ChownQueue(s.paths, daemonUser); err != nil {
			return err
		}
		if err := ensureAlias(s); err != nil {
			return err
		}
	}

	listeners, err := listen(s.cfg.SMTP)
	if err != nil {
		return err
	}
	helper, helperCmd, err := startHelper(s)
	if err != nil {
		closeAll(listeners)
		return err
	}
	if daemonUser != nil {
		if err := dropPrivileges(daemonUser); err != nil {
			closeAll(listeners)
			helper.Close()
			helperCmd.Wait()
			return err
		}
	}

	router := &route.Router{Controls: s.controls}
	db, err := store.Open(s.paths.QueueDB, store.Options{Owner: "qmaild --root " + s.paths.Root, Route: router.Route})
	if err != nil {
		closeAll(listeners)
		helper.Close()
		helperCmd.Wait()
		return err
	}
	if n, err := db.RemoveOrphanBodies(); err != nil {
		s.log.Warning("unable to remove orphan body files: %v", err)
	} else if n > 0 {
		s.log.Info("queue: removed %d body files no message names", n)
	}
	err = serve(s, db, router, helper, listeners)
	helper.Close()
	helperCmd.Wait()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// ensureAlias gives the alias account its .qmail files for postmaster,
// MAILER-DAEMON and root, as a qmail install does. Without an alias
// account the daemon still runs, but mail no user owns is deferred until
// one exists.
func ensureAlias(s *setup) error {
	u, err := user.Lookup(s.cfg.Users.Alias)
	if err != nil {
		s.log.Warning("no alias account %q: mail for addresses no user owns (postmaster, root) is deferred until it exists; "+
			"create it with useradd -r -d %s -s /usr/sbin/nologin %s", s.cfg.Users.Alias, filepath.Join(s.paths.Root, "alias"), s.cfg.Users.Alias)
		return nil
	}
	o, err := layout.OwnerOf(u.Username, u.Uid, u.Gid)
	if err != nil {
		return err
	}
	if o.UID == 0 {
		return fmt.Errorf("alias account %q has uid 0; qmail never delivers as root", u.Username)
	}
	return layout.EnsureAlias(u.HomeDir, o, s.cfg.Users.Postmaster)
}

// listenAddrs are this host's addresses for the best-MX check: the
// interfaces' addresses and the ones the daemon listens on.
func listenAddrs(ls []listener) []netip.Addr {
	out := remotedeliver.InterfaceAddrs()
	for _, l := range ls {
		if ap, err := netip.ParseAddrPort(l.Addr().String()); err == nil && !ap.Addr().IsUnspecified() {
			out = append(out, ap.Addr().Unmap())
		}
	}
	return out
}

// listener is a bound SMTP listener and its role.
type listener struct {
	net.Listener
	role smtp.Role
}

// listen binds smtp.listen's plain listeners and smtp.listener's tables.
func listen(c config.SMTP) ([]listener, error) {
	var want []config.Listener
	for _, a := range c.Listen {
		want = append(want, config.Listener{Address: a})
	}
	want = append(want, c.Listeners...)
	var ls []listener
	for _, w := range want {
		l, err := net.Listen("tcp", w.Address)
		if err != nil {
			closeAll(ls)
			return nil, fmt.Errorf("cannot listen on %s: %w", w.Address, err)
		}
		ls = append(ls, listener{l, smtp.Role{Submission: w.Submission, ImplicitTLS: w.ImplicitTLS}})
	}
	return ls, nil
}

func closeAll(ls []listener) {
	for _, l := range ls {
		l.Close()
	}
}

// startHelper starts the local delivery helper with one end of a socket
// pair on its descriptor 3. Run as root, the helper stays root.
func startHelper(s *setup) (*localdeliver.Client, *exec.Cmd, error) {
	conn, theirs, err := frame.Pair()
	if err != nil {
		return nil, nil, fmt.Errorf("socket pair for the delivery helper: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		conn.Close()
		theirs.Close()
		return nil, nil, fmt.Errorf("cannot find my own binary: %w", err)
	}
	args := []string{"helper", "--root", s.paths.Root,
		"--defaultdelivery", s.cfg.Delivery.DefaultDelivery, "--alias", s.cfg.Users.Alias, "--log", s.cfg.Log.Format,
		"--program-timeout", s.cfg.Delivery.ProgramTimeout.String()}
	for _, a := range s.cfg.Auth.Checkpassword {
		args = append(args, "--checkpassword", a)
	}
	cmd := exec.Command(exe, args...)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group: a Ctrl-C for the daemon is not one for the
	// helper, which must finish the deliveries the daemon waits for.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("cannot start the delivery helper: %w", err)
	}
	return localdeliver.NewClient(conn, func(format string, args ...any) { s.log.Warning(format, args...) }), cmd, nil
}

// dropPrivileges makes the whole process (every thread) the daemon user.
func dropPrivileges(o *layout.Owner) error {
	if err := syscall.Setgroups([]int{o.GID}); err != nil {
		return fmt.Errorf("setgroups(%d): %w", o.GID, err)
	}
	if err := syscall.Setgid(o.GID); err != nil {
		return fmt.Errorf("setgid(%d): %w", o.GID, err)
	}
	if err := syscall.Setuid(o.UID); err != nil {
		return fmt.Errorf("setuid(%d): %w", o.UID, err)
	}
	if os.Geteuid() != o.UID || os.Getuid() != o.UID {
		return fmt.Errorf("still uid %d after setuid(%d)", os.Geteuid(), o.UID)
	}
	return nil
}

// waitForStop answers qmail-send's signals until one says stop: TERM and
// INT stop; ALRM makes every queued recipient due now; HUP, which makes
// qmail-send reread locals and virtualdomains, has nothing to do since
// every control file is read live. It returns why the daemon stops, nil
// for a signal.
func waitForStop(ctx context.Context, s *setup, eng *engine.Engine, db *store.DB, helper *localdeliver.Client) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGALRM)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				s.log.Info("status: hangup: control files are read live, nothing to reread")
			case syscall.SIGALRM:
				n, err := db.MakeAllDue(ctx, time.Now())
				if err != nil {
					s.log.Warning("unable to make the queue due: %v", err)
				}
				s.log.Info("status: alarm: %d queued recipients due now", n)
				eng.Kick()
			default:
				s.log.Info("status: %v received, stopping", sig)
				return nil
			}
		case <-helper.Done():
			s.log.Alert("oh no! lost the local delivery helper! stopping")
			return localdeliver.ErrHelperGone
		case <-ctx.Done():
			return nil
		}
	}
}

// serve runs the SMTP listeners and the engine until a signal or the loss
// of the helper, then stops them in order: no new mail, then no new
// deliveries, then the deliveries under way.
func serve(s *setup, db *store.DB, router *route.Router, helper *localdeliver.Client, listeners []listener) error {
	resolver, err := remotedeliver.NewResolver(s.cfg.DNS.Servers)
	if err != nil {
		return err
	}
	remote := &remotedeliver.Deliverer{
		Controls:   s.controls,
		Resolver:   resolver,
		Port:       s.cfg.Remote.Port,
		TLS:        remotedeliver.TLSPolicy{Mode: s.cfg.Remote.StartTLS, PlainFallback: s.cfg.Remote.PlainFallback},
		LocalAddrs: listenAddrs(listeners),
	}
	eng := &engine.Engine{
		DB:          db,
		Controls:    s.controls,
		Local:       &engine.LocalChannel{Helper: helper},
		Remote:      &engine.RemoteChannel{Deliverer: remote},
		GroupRemote: s.cfg.Remote.GroupRecipients,
		Log:         s.log,
	}
	srv := &smtp.Server{
		Controls: s.controls, Config: &s.cfg.SMTP, Router: router, Queue: smtp.StoreQueue{DB: db, Log: s.log}, Log: s.log,
		Auth: helperChecks{helper}, AuthConfig: &s.cfg.Auth, AliasAccount: s.cfg.Users.Alias,
		Recipients: helperChecks{helper},
		Filter:     queueFilter(s.cfg.SMTP),
	}
	// Loaded as the daemon's account, which re-reads it when it changes:
	// a key it cannot read is found now, not at the first renewal.
	certs, err := loadCerts(s.paths, s.cfg.TLS, s.log)
	if err != nil {
		return err
	}
	if certs != nil {
		srv.TLS, srv.TLSReady = certs.Config(), certs.Ready
	}
	for _, l := range listeners {
		if l.role.Submission && (certs == nil || !certs.Ready()) {
			s.log.Warning("smtp: %s is a submission listener, and AUTH needs TLS: it takes no mail until a certificate loads", l.Addr())
		}
	}
	sock, err := inject.Listen(s.paths.Socket)
	if err != nil {
		return err
	}
	sub := &inject.Server{
		Queue: db, Log: s.log,
		TrustedUIDs:     []int{0, os.Getuid()},
		MaxMessageBytes: s.cfg.SMTP.MaxMessageBytes,
	}
	// qmailctl queue: root and the daemon's own account only.
	adminPath := admin.SocketPath(s.paths.Submit)
	adminSock, err := admin.Listen(adminPath)
	if err != nil {
		sock.Close()
		return err
	}
	defer os.Remove(adminPath)
	adm := &admin.Server{Queue: db, Changer: db, Bouncer: eng, Kick: eng.Kick, Log: s.log, AllowedUIDs: []int{0, os.Getuid()}}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var engErr error
	wg.Go(func() { engErr = eng.Run(ctx); stop() })
	for _, l := range listeners {
		s.log.Info("smtp: listening on %s (%s)", l.Addr(), l.role)
		wg.Go(func() {
			if err := srv.ServeRole(l, l.role); err != nil {
				s.log.Alert("smtp: %s: %v", l.Addr(), err)
			}
		})
	}

	wg.Go(func() {
		if err := sub.Serve(sock); err != nil {
			s.log.Alert("%v", err)
		}
	})
	wg.Go(func() {
		if err := adm.Serve(adminSock); err != nil {
			s.log.Alert("%v", err)
		}
	})
	// What submitters left while the daemon was down, at once and then
	// every second.
	pickup := &inject.Pickup{
		Dir: s.paths.Pickup, Queue: db, Log: s.log,
		MaxMessageBytes: s.cfg.SMTP.MaxMessageBytes,
		TrustedUIDs:     sub.TrustedUIDs,
		Bounce: func(uid int, sender, why string) {
			n := inject.Notice(uid, sender, why, s.controls.BounceHost(), time.Now())
			if id, err := db.Accept(ctx, n); err != nil {
				s.log.Warning("pickup: unable to queue the notice to uid %d: %v", uid, err)
			} else {
				s.log.NewMsg(uint64(id))
			}
		},
	}
	wg.Go(func() { pickup.Run(ctx, time.Second) })

	why := waitForStop(ctx, s, eng, db, helper)

	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	cancel()
	closeAll(listeners)
	sock.Close()
	sub.CloseConns()
	adminSock.Close()
	adm.CloseConns()
	stop()
	wg.Wait()
	if why == nil {
		why = engErr
	}
	return why
}
