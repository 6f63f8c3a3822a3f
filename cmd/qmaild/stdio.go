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
)

// runStdioSMTP serves one SMTP session on stdin and stdout, as qmail-smtpd
// does under tcpserver or inetd, and queues through the running daemon's
// submission socket. Relaying is allowed by RELAYCLIENT, not by
// qmail.toml's relay_from. Logs go to stderr.
func runStdioSMTP(root string) error {
	p := layout.For(root)
	cfg, err := config.Load(p.Config, config.Defaults(os.Geteuid() == 0))
	if err != nil {
		return err
	}
	log := qlog.New(os.Stderr, cfg.Log.Format)
	controls := control.Open(p.Control, func(err error) { log.Warning("%v; keeping the last good value", err) })
	client := &inject.Client{Path: p.Socket}
	defer client.Close()
	srv := &smtp.Server{
		Controls: controls,
		Config:   &cfg.SMTP,
		Router:   &route.Router{Controls: controls},
		Queue:    socketQueue{client},
		Log:      log,
	}
	return srv.ServeConn(smtp.StdioFromEnv(os.LookupEnv))
}

// socketQueue queues through the daemon's submission socket; the daemon
// logs what it queues.
type socketQueue struct{ c *inject.Client }

func (q socketQueue) Begin(ctx context.Context) (smtp.Draft, error) { return q.c.Begin(ctx) }
