package inject

import (
	"bufio"
	"context"
	"net"
	"time"

	"github.com/gqmail/gqmail/internal/frame"
	"github.com/gqmail/gqmail/internal/outcome"
	"github.com/gqmail/gqmail/store"
)

// Client submits messages to the daemon's socket. It keeps one connection
// and is not safe for concurrent use.
type Client struct {
	Path string

	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// Accept submits msg and returns its queue ID once the daemon has it on
// disk. Errors are *outcome.Error: temporary when the daemon cannot be
// reached or cannot queue now, permanent when it refuses the message. Only
// the addresses of msg's recipients are sent: the daemon routes them.
func (c *Client) Accept(ctx context.Context, msg *store.NewMessage) (store.MsgID, error) {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", c.Path)
		if err != nil {
			return 0, outcome.TemporaryErr(err, "Unable to reach the gqmail daemon at %s: %v. (#4.3.0)", c.Path, err)
		}
		c.conn, c.r, c.w = conn, bufio.NewReader(conn), bufio.NewWriter(conn)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Now().Add(30 * time.Minute))
	}
	fields := [][]byte{[]byte(requestTag), []byte(msg.Sender), []byte(msg.Origin.Kind),
		[]byte(msg.Origin.RemoteIP), []byte(msg.Origin.HELO), msg.Body}
	for _, r := range msg.Recipients {
		fields = append(fields, []byte(r.Address))
	}
	if err := frame.Write(c.w, fields...); err != nil {
		c.Close()
		return 0, outcome.TemporaryErr(err, "Unable to send the message to the gqmail daemon: %v. (#4.3.0)", err)
	}
	resp, err := frame.Read(c.r)
	if err != nil || len(resp) != 3 || len(resp[0]) != 1 {
		c.Close()
		// The daemon may have queued it: the sender will try again and
		// at worst the message goes out twice, never zero times.
		return 0, outcome.Temporary("Lost the connection to the gqmail daemon before it answered; the message may have been queued. (#4.3.0)")
	}
	id, _ := frame.GetU64(resp[2])
	switch resp[0][0] {
	case 'K':
		return store.MsgID(id), nil
	case 'D':
		return 0, outcome.Permanent("%s", resp[1])
	default:
		return 0, outcome.Temporary("%s", resp[1])
	}
}

// Close closes the connection, if any.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
