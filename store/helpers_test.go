package store

import (
	"strings"

	"github.com/gqmail/gqmail/internal/route"
)

// Local and Remote are the channels, for short in these tests.
const (
	Local  = route.Local
	Remote = route.Remote
)

// testRoute routes addresses at domains ending ".example" to the remote
// channel and the rest to the local one, unchanged.
func testRoute(addr string) route.Route {
	if strings.HasSuffix(addr, ".example") {
		return route.Route{Deliver: addr, Channel: route.Remote}
	}
	return route.Route{Deliver: addr, Channel: route.Local}
}
