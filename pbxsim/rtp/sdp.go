package rtp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Media is what pbxsim needs from an SDP body: where the audio stream goes
// and which payload types it offers.
type Media struct {
	Addr     *net.UDPAddr
	Payloads []int
}

// ErrNoAudio is returned for an SDP body without an "m=audio" line with a
// usable port and connection address (RFC 4566 section 5.7 and 5.14).
var ErrNoAudio = errors.New("sdp: no audio stream")

// ParseSDP reads the connection address and the first audio stream of an SDP
// body. It is lenient on purpose: unknown or malformed lines (T.38 image
// streams, odd attributes) are skipped, as the far end's SDP is not ours to
// police. A media-level "c=" line overrides the session-level one.
func ParseSDP(body []byte) (Media, error) {
	var sessionIP, mediaIP string
	port := -1
	var payloads []int
	inAudio := false
	for _, raw := range bytes.Split(body, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		val := line[2:]
		switch line[0] {
		case 'c':
			f := strings.Fields(val)
			if len(f) < 3 {
				continue
			}
			ip, _, _ := strings.Cut(f[2], "/")
			if inAudio {
				mediaIP = ip
			} else if port < 0 {
				sessionIP = ip
			}
		case 'm':
			f := strings.Fields(val)
			if inAudio || len(f) < 3 || f[0] != "audio" || port >= 0 {
				inAudio = false
				continue
			}
			p, err := strconv.Atoi(strings.Split(f[1], "/")[0])
			if err != nil {
				continue
			}
			port, inAudio = p, true
			for _, pt := range f[3:] {
				if n, err := strconv.Atoi(pt); err == nil {
					payloads = append(payloads, n)
				}
			}
		}
	}
	ip := mediaIP
	if ip == "" {
		ip = sessionIP
	}
	if port <= 0 || ip == "" {
		return Media{}, ErrNoAudio
	}
	addr := net.ParseIP(ip)
	if addr == nil {
		return Media{}, fmt.Errorf("parse sdp address %q: %w", ip, ErrNoAudio)
	}
	return Media{Addr: &net.UDPAddr{IP: addr, Port: port}, Payloads: payloads}, nil
}

// Offers reports whether payload type pt is among the stream's payloads.
func (m Media) Offers(pt int) bool {
	for _, p := range m.Payloads {
		if p == pt {
			return true
		}
	}
	return false
}

// BuildSDP returns an SDP body offering PCMU (and telephone-event) on addr.
// sessionID should stay the same for one endpoint's offers and answers.
func BuildSDP(addr *net.UDPAddr, sessionID uint64, user string) []byte {
	if user == "" {
		user = "-"
	}
	ip := addr.IP.String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=%s %d %d IN IP4 %s\r\n", user, sessionID, sessionID, ip)
	fmt.Fprintf(&b, "s=pbxsim\r\n")
	fmt.Fprintf(&b, "c=IN IP4 %s\r\n", ip)
	fmt.Fprintf(&b, "t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 101\r\n", addr.Port)
	fmt.Fprintf(&b, "a=rtpmap:0 PCMU/8000\r\n")
	fmt.Fprintf(&b, "a=rtpmap:101 telephone-event/8000\r\n")
	fmt.Fprintf(&b, "a=fmtp:101 0-16\r\n")
	fmt.Fprintf(&b, "a=ptime:20\r\n")
	fmt.Fprintf(&b, "a=sendrecv\r\n")
	return []byte(b.String())
}
