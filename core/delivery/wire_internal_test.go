//go:build unix && !aix

package delivery

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestIdleProbe: the probe tells an idle connection that is alive from one
// the server closed or wrote to unasked, without reading from it.
func TestIdleProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w := newWire(time.Second, nil)
	p := w.pool(&wireTarget{key: poolKey{addr: ln.Addr().String()}})
	dial := func() (*wireConn, net.Conn) {
		t.Helper()
		c, err := w.dial(context.Background(), p, time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c, sc
	}
	// readable waits until what the server did reaches the client's
	// socket (loopback delivers it at once but not synchronously), then
	// asks the probe.
	readable := func(what string, c *wireConn) bool {
		t.Helper()
		c.raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		err := c.probe.rc.Read(func(fd uintptr) bool {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return err != syscall.EAGAIN
		})
		if err != nil {
			t.Fatalf("timed out waiting for %s to reach the client: %v", what, err)
		}
		c.raw.SetReadDeadline(time.Time{})
		return c.idleClosed()
	}

	c, sc := dial()
	if c.idleClosed() {
		t.Fatal("a live idle connection looks closed")
	}
	sc.Close()
	if !readable("the server's close", c) {
		t.Error("a connection the server closed looks alive")
	}
	c.close()

	c, sc = dial()
	io.WriteString(sc, "HTTP/1.1 408 Request Timeout\r\n\r\n")
	if !readable("the unasked response", c) {
		t.Error("a connection with an unasked response looks alive")
	}
	if c.br.Buffered() != 0 {
		t.Error("the probe read from the connection")
	}
	c.close()
	sc.Close()
}
