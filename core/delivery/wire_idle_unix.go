//go:build unix && !aix

package delivery

import (
	"net"
	"syscall"
)

// idleProbe looks at an idle connection's socket without reading from it:
// net/http notices a server closing an idle connection in its reader
// goroutine, the wire notices it here before reusing the connection. The
// function and buffer are made once per connection so a probe allocates
// nothing.
type idleProbe struct {
	rc     syscall.RawConn
	tls    bool
	buf    [1]byte
	closed bool
	fn     func(fd uintptr) bool
}

func (p *idleProbe) init(c net.Conn, tls bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.rc, p.tls = rc, tls
	p.fn = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		for err == syscall.EINTR {
			n, _, err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		}
		// Returning true always: false would make Read wait for the
		// socket to become readable.
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			p.closed = false // nothing to read: alive
		case err != nil, n == 0:
			p.closed = true // reset, or end of stream
		default:
			// Bytes nobody asked for. Over TLS they may be a session
			// ticket or a key update the TLS layer will read; in plain
			// HTTP they are an unasked response, so the connection is out
			// of step.
			p.closed = !p.tls
		}
		return true
	}
}

// idleClosed reports whether c's server closed it (or wrote to it) while
// it was idle.
func (c *wireConn) idleClosed() bool {
	p := &c.probe
	if p.rc == nil {
		return false
	}
	if err := p.rc.Read(p.fn); err != nil {
		return true
	}
	return p.closed
}
