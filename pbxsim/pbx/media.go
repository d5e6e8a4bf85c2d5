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
	rec     atomic.Pointer[recTap]
	digit   atomic.Pointer[func(string)]
	spies   atomic.Pointer[[]*relayLeg] // supervisors listening in
	lastEv  atomic.Uint32               // RTP timestamp of the last telephone-event taken
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
		if f := l.digit.Load(); f != nil {
			if d, ts, end, ok := rfc4733Digit(buf[:n]); ok && end && l.lastEv.Swap(ts+1) != ts+1 {
				(*f)(d)
			}
		}
		if t := l.rec.Load(); t != nil {
			if pl, ok := pcmuPayload(buf[:n]); ok {
				t.r.write(t.side, pl)
			}
		}
		if l.remote.Load() == nil {
			// Symmetric RTP: a far end without usable SDP is answered where
			// it sends from.
			l.remote.Store(src)
		}
		if sp := l.spies.Load(); sp != nil {
			for _, x := range *sp {
				if dst := x.remote.Load(); dst != nil {
					_, _ = x.conn.WriteToUDP(buf[:n], dst)
				}
			}
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

// recTap sends a leg's received audio to one side of a recording.
type recTap struct {
	r    *recording
	side int
}

// tap records what this leg receives as side of r.
func (l *relayLeg) tap(r *recording, side int) {
	if l != nil && r != nil {
		l.rec.Store(&recTap{r: r, side: side})
	}
}

// untap stops recording to r (a later recording's tap stays).
func (l *relayLeg) untap(r *recording) {
	if l == nil {
		return
	}
	if t := l.rec.Load(); t != nil && t.r == r {
		l.rec.CompareAndSwap(t, nil)
	}
}

// pcmuPayload is the PCMU payload of an RTP packet (RFC 3550 section 5.1),
// skipping CSRCs, header extension and padding; ok is false for anything
// else (telephone-event, RTCP, garbage).
func pcmuPayload(b []byte) ([]byte, bool) {
	if len(b) < 12 || b[0]>>6 != 2 || b[1]&0x7f != 0 {
		return nil, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return nil, false
		}
		off += 4 + 4*int(uint16(b[off+2])<<8|uint16(b[off+3]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if off > end {
		return nil, false
	}
	return b[off:end], true
}
