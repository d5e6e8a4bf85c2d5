// Package rtp is pbxsim's media: PCMU RTP senders and receivers on
// loopback UDP, and a small lenient SDP reader and writer. Phones use a
// Session to send a 20 ms PCMU stream and count what arrives; the PBX relays
// packets between its own sockets.
package rtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"
)

// Ptime is the packetisation interval pbxsim sends at.
const Ptime = 20 * time.Millisecond

// Session is one RTP endpoint: a UDP socket, a receiver that counts valid
// RTP packets, and an optional sender. It is safe for concurrent use.
type Session struct {
	conn     *net.UDPConn
	remote   atomic.Pointer[net.UDPAddr]
	received atomic.Int64
	sent     atomic.Int64
	onPacket atomic.Pointer[func(*pionrtp.Packet)]
	events   chan digitEvent // RFC 4733 events the sender plays next
	burst    atomic.Bool     // play an event's packets at once (SetBurstEvents)
	sending  atomic.Bool

	stop     chan struct{}
	stopOnce sync.Once
	// mu orders Send's wg.Add before Close's wg.Wait: a call can be
	// answered and hung up at the same moment.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Listen opens a session on addr ("127.0.0.1:0" for any free port) and
// starts receiving.
func Listen(addr string) (*Session, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve rtp address %q: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen rtp %q: %w", addr, err)
	}
	s := &Session{conn: c, stop: make(chan struct{}), events: make(chan digitEvent, 32)}
	s.wg.Add(1)
	go s.readLoop()
	return s, nil
}

// LocalAddr is the address the session receives on; put it in the SDP.
func (s *Session) LocalAddr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// SetRemote sets where the sender sends (the far end's SDP address).
func (s *Session) SetRemote(a *net.UDPAddr) { s.remote.Store(a) }

// Remote is the far end's address, or nil before SetRemote.
func (s *Session) Remote() *net.UDPAddr { return s.remote.Load() }

// OnPacket registers f to see every received RTP packet (tests, recorders).
// f runs on the receive goroutine and must not block.
func (s *Session) OnPacket(f func(*pionrtp.Packet)) { s.onPacket.Store(&f) }

// Received is the number of valid RTP packets received so far.
func (s *Session) Received() int { return int(s.received.Load()) }

// Sent is the number of RTP packets sent so far.
func (s *Session) Sent() int { return int(s.sent.Load()) }

func (s *Session) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var p pionrtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.Version != 2 {
			continue
		}
		s.received.Add(1)
		if f := s.onPacket.Load(); f != nil {
			(*f)(&p)
		}
	}
}

// Send starts sending src as PCMU every Ptime to the remote address until
// ctx ends or the session is closed. Frames before SetRemote are skipped.
func (s *Session) Send(ctx context.Context, src Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.sending.Store(true)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		hdr := pionrtp.Header{
			Version:        2,
			PayloadType:    PayloadTypePCMU,
			SequenceNumber: uint16(rand.Uint32()),
			Timestamp:      rand.Uint32(),
			SSRC:           rand.Uint32(),
			Marker:         true,
		}
		frame := make([]byte, FrameSamples)
		t := time.NewTicker(Ptime)
		defer t.Stop()
		var ev []pionrtp.Packet  // the event being played, one packet per tick
		var played chan struct{} // closed once ev's last packet is out
		var ended chan struct{}  // closed as ev's first end packet goes out
		for {
			if len(ev) == 0 {
				select {
				case e := <-s.events:
					ev, played, ended = eventPackets(hdr, e.ev), e.played, e.ended
					hdr.SequenceNumber += uint16(len(ev))
					hdr.Timestamp += uint32(EventFrames * FrameSamples)
				default:
				}
			}
			if dst := s.remote.Load(); dst != nil && len(ev) > 0 {
				if ev[0].Payload[1]&0x80 != 0 && ended != nil {
					// The event is complete; the repeated end packets
					// are only redundancy (RFC 4733 section 2.5.1.4).
					// Said before the write: the far end may act on it
					// and end the call before the write returns.
					close(ended)
					ended = nil
				}
				if b, err := ev[0].Marshal(); err == nil {
					if _, err := s.conn.WriteToUDP(b, dst); err == nil {
						s.sent.Add(1)
					}
				}
				if ev = ev[1:]; s.burst.Load() {
					if ended != nil {
						// The burst holds the end packets.
						close(ended)
						ended = nil
					}
					for _, p := range ev {
						if b, err := p.Marshal(); err == nil {
							if _, err := s.conn.WriteToUDP(b, dst); err == nil {
								s.sent.Add(1)
							}
						}
					}
					ev = nil
				}
				if len(ev) == 0 {
					if ended != nil {
						close(ended)
						ended = nil
					}
					close(played)
				}
			} else if dst != nil {
				src.Frame(frame)
				pkt := pionrtp.Packet{Header: hdr, Payload: frame}
				if b, err := pkt.Marshal(); err == nil {
					if _, err := s.conn.WriteToUDP(b, dst); err == nil {
						s.sent.Add(1)
					}
				}
				hdr.Marker = false
				hdr.SequenceNumber++
				hdr.Timestamp += FrameSamples
			}
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the sender and the receiver and closes the socket.
func (s *Session) Close() error {
	var err error
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		err = s.conn.Close()
		s.wg.Wait()
	})
	return err
}

// PayloadTypeEvent is the telephone-event payload type pbxsim offers
// (RFC 4733), and EventFrames how many 20 ms packets one digit lasts
// before its three end packets.
const (
	PayloadTypeEvent = 101
	EventFrames      = 6
)

// ErrNotSending is returned by SendDigits on a session that is not
// sending: RFC 4733 events go in the media stream.
var ErrNotSending = errors.New("rtp: session is not sending")

// SetBurstEvents makes a key press go out in one packet time: every
// packet of the event at once, its duration field still saying the
// press's length. A simulation playing time faster than the clock uses it,
// so a press does not last longer in its time than a person's does.
func (s *Session) SetBurstEvents(on bool) { s.burst.Store(on) }

// digitEvent is one queued RFC 4733 event and the sign it was played.
type digitEvent struct {
	ev            byte
	played, ended chan struct{}
}

// SendDigits sends DTMF digits (0-9, *, #, A-D) as RFC 4733
// telephone-events in the outgoing stream, in place of audio, and returns
// once the last digit's end packets are out: a key press takes its time
// (EventFrames packets of Ptime, at the media's real pace), and what the
// caller does next comes after it, as after a person's key press.
func (s *Session) SendDigits(ctx context.Context, digits string) error {
	if !s.sending.Load() {
		return ErrNotSending
	}
	var last, lastEnded chan struct{}
	for i := range len(digits) {
		ev, ok := DigitEvent(digits[i])
		if !ok {
			return fmt.Errorf("send digits %q: %q is not a DTMF digit", digits, digits[i])
		}
		last, lastEnded = make(chan struct{}), make(chan struct{})
		select {
		case s.events <- digitEvent{ev, last, lastEnded}:
		default:
			return fmt.Errorf("send digits %q: too many queued", digits)
		}
	}
	if last == nil {
		return nil
	}
	select {
	case <-last:
		return nil
	case <-s.stop:
		select {
		case <-lastEnded:
			// The far end acted on the last key at once (a PBX's
			// transfer feature hangs the transferer up) and the call
			// ended while its end packet was being repeated.
			return nil
		default:
		}
		return fmt.Errorf("send digits %q: %w", digits, ErrNotSending)
	case <-ctx.Done():
		return fmt.Errorf("send digits %q: %w", digits, ctx.Err())
	}
}

// eventPackets are one digit's packets from hdr on (RFC 4733 section
// 2.5): EventFrames packets with a growing duration, the first with the
// marker bit, then the end packet three times; all share the event's
// timestamp.
func eventPackets(hdr pionrtp.Header, ev byte) []pionrtp.Packet {
	var out []pionrtp.Packet
	for i := range EventFrames + 3 {
		h := hdr
		h.PayloadType = PayloadTypeEvent
		h.Marker = i == 0
		h.SequenceNumber = hdr.SequenceNumber + uint16(i)
		dur := uint16(min(i+1, EventFrames) * FrameSamples)
		flags := byte(10) // volume -10 dBm0
		if i >= EventFrames {
			flags |= 0x80
		}
		out = append(out, pionrtp.Packet{Header: h, Payload: []byte{ev, flags, byte(dur >> 8), byte(dur)}})
	}
	return out
}
