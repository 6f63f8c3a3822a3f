package main

import (
	"context"
	"os"

	"github.com/gqmail/gqmail/frontends/smtp"
	"github.com/gqmail/gqmail/frontends/submission"
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
	return srv.ServeConn(conn)
}

// socketQueue queues through the daemon's submission socket, which logs
// what it queues, or, while the daemon is down, through the pickup
// directory (frontends/submission). Each message has a connection of its
// own, held from DATA to its answer only: an idle SMTP session holds none
// of the socket's places.
type socketQueue struct{ socket, pickup string }

func (q socketQueue) Begin(ctx context.Context) (smtp.Draft, error) {
	return submission.Open(ctx, q.socket, q.pickup, submission.KindSMTP)
}
