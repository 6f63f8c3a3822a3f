package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gqmail/gqmail/frontends/smtp"
	"github.com/gqmail/gqmail/frontends/submission"
	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/internal/qlog"
	"github.com/gqmail/gqmail/internal/qmailqueue"
	"github.com/gqmail/gqmail/internal/route"
	"github.com/gqmail/gqmail/store"
)

// runStdioSMTP serves one SMTP session on stdin and stdout, as qmail-smtpd
// does under tcpserver or inetd, and queues through the running daemon's
// submission socket. Relaying is allowed by RELAYCLIENT, not by
// qmail.toml's relay_from. Logs go to stderr.
func runStdioSMTP(root string) error {
	p := layout.For(root)
	if err := layout.Check(p); err != nil {
		return err
	}
	cfg, err := config.Load(p.Config, config.Defaults(os.Geteuid() == 0))
	if err != nil {
		return err
	}
	log := qlog.New(os.Stderr, cfg.Log.Format)
	controls := control.Open(p.Control, func(err error) { log.Warning("%v; keeping the last good value", err) })
	conn, err := smtp.StdioFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	srv := &smtp.Server{
		Controls: controls,
		Config:   &cfg.SMTP,
		Router:   &route.Router{Controls: controls},
		Queue:    socketQueue{socket: p.Socket, pickup: p.Pickup},
		Log:      log,
	}
	// QMAILQUEUE replaces the queue, as in qmail-smtpd: the program gets
	// the message and queues it (through qmail-queue) or refuses it.
	if prog := os.Getenv("QMAILQUEUE"); prog != "" {
		srv.Queue = programQueue{argv: []string{prog}}
	}
	// A session per connection: no certificate where none was set up is
	// not worth a warning in every session's log.
	tlsCfg := cfg.TLS
	cert := tlsCfg.Cert
	if !filepath.IsAbs(cert) {
		cert = filepath.Join(p.Root, cert)
	}
	if _, err := os.Stat(cert); errors.Is(err, fs.ErrNotExist) && !tlsCfg.Required {
		tlsCfg.Cert = ""
	}
	certs, err := loadCerts(p, tlsCfg, log)
	if err != nil {
		return err
	}
	if certs != nil {
		srv.TLS, srv.TLSReady = certs.Config(), certs.Ready
	}
	return srv.ServeConn(conn)
}

// programQueue queues through a qmail-queue program (QMAILQUEUE), which
// gets the message as it arrives and the envelope at the end.
type programQueue struct{ argv []string }

func (q programQueue) Begin(context.Context) (smtp.Draft, error) {
	p, err := qmailqueue.Start(q.argv, qmailqueue.Options{Stderr: os.Stderr})
	if err != nil {
		return nil, err
	}
	return &programDraft{p: p, w: qmailqueue.StickyWriter(p)}, nil
}

// programDraft keeps a write error to itself until Commit: a program
// that refused the message and exited is answered with its exit code, as
// qmail-smtpd reads it before any write error.
type programDraft struct {
	p *qmailqueue.Program
	w interface {
		io.Writer
		Err() error
	}
}

func (d *programDraft) Write(b []byte) (int, error) { return d.w.Write(b) }

func (d *programDraft) Commit(_ context.Context, msg *store.NewMessage) (store.MsgID, error) {
	err := d.p.Commit(msg.Sender, msg.Recipients)
	if err == nil && d.w.Err() != nil {
		err = outcome.TemporaryErr(d.w.Err(), "qq write error or disk full (#4.3.0)")
	}
	return 0, err
}

func (d *programDraft) Abort() { d.p.Abort() }

// socketQueue queues through the daemon's submission socket, which logs
// what it queues, or, while the daemon is down, through the pickup
// directory (frontends/submission). Each message has a connection of its
// own, held from DATA to its answer only: an idle SMTP session holds none
// of the socket's places.
type socketQueue struct{ socket, pickup string }

func (q socketQueue) Begin(ctx context.Context) (smtp.Draft, error) {
	return submission.Open(ctx, q.socket, q.pickup, submission.KindSMTP)
}
