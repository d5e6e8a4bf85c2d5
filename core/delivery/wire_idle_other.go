//go:build !unix || aix

package delivery

import "net"

// idleProbe is a no-op where the socket cannot be peeked at; a connection
// closed while idle is then found by the exchange and retried (see
// wire.roundTrip).
type idleProbe struct{}

func (p *idleProbe) init(net.Conn, bool) {}

func (c *wireConn) idleClosed() bool { return false }
