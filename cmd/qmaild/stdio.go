package main

import (
	"context"
	"os"

	"github.com/gqmail/gqmail/frontends/inject"
	"github.com/gqmail/gqmail/frontends/smtp"
	"github.com/gqmail/gqmail/internal/config"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/internal/layout"
	"github.com/gqmail/gqmail/internal/qlog"
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
		Queue:    socketQueue{path: p.Socket},
		Log:      log,
	}
	return srv.ServeConn(conn)
}

// socketQueue queues through the daemon's submission socket, which logs
// what it queues. Each message has a connection of its own, held from
// DATA to its answer only: an idle SMTP session holds none of the
// socket's places.
type socketQueue struct{ path string }

func (q socketQueue) Begin(ctx context.Context) (smtp.Draft, error) {
	c := &inject.Client{Path: q.path}
	s, err := c.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return closingDraft{s, c}, nil
}

// closingDraft closes its connection when the message ends.
type closingDraft struct {
	*inject.Submission
	c *inject.Client
}

func (d closingDraft) Commit(ctx context.Context, msg *store.NewMessage) (store.MsgID, error) {
	defer d.c.Close()
	return d.Submission.Commit(ctx, msg)
}

func (d closingDraft) Abort() {
	d.Submission.Abort()
	d.c.Close()
}
