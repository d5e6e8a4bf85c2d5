package pbx

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// relayLeg is the PBX's RTP socket for one call leg. The PBX anchors media
// (Asterisk's direct_media=no): each leg's SDP names the PBX's own port,
// and packets received on one bridged leg are sent on from the other leg's
// socket to that leg's far end.
type relayLeg struct {
	conn    *net.UDPConn
	remote  atomic.Pointer[net.UDPAddr]
	peer    atomic.Pointer[relayLeg]
	packets atomic.Int64
	wg      sync.WaitGroup
	once    sync.Once
}

func newRelayLeg(host string) (*relayLeg, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)})
	if err != nil {
		return nil, fmt.Errorf("listen media on %s: %w", host, err)
	}
	l := &relayLeg{conn: c}
	l.wg.Add(1)
	go l.loop()
	return l, nil
}

func (l *relayLeg) addr() *net.UDPAddr { return l.conn.LocalAddr().(*net.UDPAddr) }

func (l *relayLeg) setRemote(a *net.UDPAddr) {
	if a != nil {
		l.remote.Store(a)
	}
}

func (l *relayLeg) loop() {
	defer l.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.packets.Add(1)
		if l.remote.Load() == nil {
			// Symmetric RTP: a far end without usable SDP is answered where
			// it sends from.
			l.remote.Store(src)
		}
		peer := l.peer.Load()
		if peer == nil {
			continue
		}
		if dst := peer.remote.Load(); dst != nil {
			_, _ = peer.conn.WriteToUDP(buf[:n], dst)
		}
	}
}

// bridgeMedia starts relaying between a and b.
func bridgeMedia(a, b *relayLeg) {
	a.peer.Store(b)
	b.peer.Store(a)
}

func (l *relayLeg) close() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		l.peer.Store(nil)
		_ = l.conn.Close()
		l.wg.Wait()
	})
}
