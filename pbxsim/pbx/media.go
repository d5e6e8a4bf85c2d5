package pbx

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// relayLeg is the PBX's RTP endpoint for one call leg. The PBX anchors
// media (Asterisk's direct_media=no): each leg's SDP names the PBX's own
// port, and packets received on one bridged leg are sent on from the other
// leg's socket to that leg's far end.
type relayLeg struct {
	port    *mediaPort
	remote  atomic.Pointer[net.UDPAddr]
	peer    atomic.Pointer[relayLeg]
	packets atomic.Int64
	rec     atomic.Pointer[recTap]
	digit   atomic.Pointer[func(string)]
	spies   atomic.Pointer[[]*relayLeg] // supervisors listening in
	lastEv  atomic.Uint32               // RTP timestamp of the last telephone-event taken
	once    sync.Once
}

// mediaPort is one UDP socket of the PBX. It normally serves one leg; with
// Config.MediaPortPerCall both legs of a call share it and packets are told
// apart by where they come from (RFC 3550 section 8.2 leaves
// demultiplexing to the transport address), which halves the sockets a
// loaded PBX holds.
type mediaPort struct {
	conn *net.UDPConn
	mu   sync.Mutex
	legs atomic.Pointer[[]*relayLeg]
	wg   sync.WaitGroup
}

func newRelayLeg(host string) (*relayLeg, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)})
	if err != nil {
		return nil, fmt.Errorf("listen media on %s: %w", host, err)
	}
	mp := &mediaPort{conn: c}
	l := &relayLeg{port: mp}
	mp.legs.Store(&[]*relayLeg{l})
	mp.wg.Add(1)
	go mp.loop()
	return l, nil
}

// share returns a new leg on l's socket, or a leg of its own when l is
// already closed.
func (l *relayLeg) share(host string) (*relayLeg, error) {
	mp := l.port
	mp.mu.Lock()
	defer mp.mu.Unlock()
	cur := *mp.legs.Load()
	if len(cur) == 0 {
		return newRelayLeg(host)
	}
	n := &relayLeg{port: mp}
	next := append(append([]*relayLeg(nil), cur...), n)
	mp.legs.Store(&next)
	return n, nil
}

func (l *relayLeg) addr() *net.UDPAddr { return l.port.conn.LocalAddr().(*net.UDPAddr) }

func (l *relayLeg) setRemote(a *net.UDPAddr) {
	if a != nil {
		l.remote.Store(a)
	}
}

func (mp *mediaPort) loop() {
	defer mp.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := mp.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if l := mp.route(src); l != nil {
			l.receive(buf[:n], src)
		}
	}
}

// route picks the leg a packet from src belongs to: the only one, the one
// whose far end sends from src, or else one whose far end is not known yet.
func (mp *mediaPort) route(src *net.UDPAddr) *relayLeg {
	legs := *mp.legs.Load()
	if len(legs) == 1 {
		return legs[0]
	}
	var unknown *relayLeg
	for _, l := range legs {
		r := l.remote.Load()
		if r == nil {
			if unknown == nil {
				unknown = l
			}
			continue
		}
		if r.Port == src.Port && r.IP.Equal(src.IP) {
			return l
		}
	}
	return unknown
}

func (l *relayLeg) receive(pkt []byte, src *net.UDPAddr) {
	l.packets.Add(1)
	if f := l.digit.Load(); f != nil {
		if d, ts, end, ok := rfc4733Digit(pkt); ok && end && l.lastEv.Swap(ts+1) != ts+1 {
			(*f)(d)
		}
	}
	if t := l.rec.Load(); t != nil {
		if pl, ok := pcmuPayload(pkt); ok {
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
				_, _ = x.port.conn.WriteToUDP(pkt, dst)
			}
		}
	}
	peer := l.peer.Load()
	if peer == nil {
		return
	}
	if dst := peer.remote.Load(); dst != nil {
		_, _ = peer.port.conn.WriteToUDP(pkt, dst)
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
		mp := l.port
		mp.mu.Lock()
		var rest []*relayLeg
		for _, x := range *mp.legs.Load() {
			if x != l {
				rest = append(rest, x)
			}
		}
		mp.legs.Store(&rest)
		mp.mu.Unlock()
		if len(rest) == 0 {
			_ = mp.conn.Close()
			mp.wg.Wait()
		}
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
