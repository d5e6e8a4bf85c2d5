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
	// Direction is the audio stream's (else the session's) direction
	// attribute: "sendrecv" (the default), "sendonly", "recvonly" or
	// "inactive". A phone putting a call on hold offers sendonly or
	// inactive (RFC 3264 section 8.4).
	Direction string
	// Image is set when the body also offers a T.38 fax stream
	// ("m=image <port> udptl t38"); ImageAddr is where it goes.
	Image     bool
	ImageAddr *net.UDPAddr
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
	inImage := false
	imagePort := -1
	sessionDir, mediaDir := "", ""
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
		case 'a':
			switch val {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				switch {
				case inAudio:
					mediaDir = val
				case port < 0 && !inImage:
					sessionDir = val
				}
			}
		case 'm':
			f := strings.Fields(val)
			inImage = false
			if len(f) >= 3 && f[0] == "image" && strings.EqualFold(f[2], "udptl") && imagePort < 0 {
				if p, err := strconv.Atoi(strings.Split(f[1], "/")[0]); err == nil && p > 0 && p <= 65535 {
					imagePort, inImage = p, true
				}
				inAudio = false
				continue
			}
			if inAudio || len(f) < 3 || f[0] != "audio" || port >= 0 {
				inAudio = false
				continue
			}
			p, err := strconv.Atoi(strings.Split(f[1], "/")[0])
			if err != nil || p > 65535 {
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
	dir := mediaDir
	if dir == "" {
		dir = sessionDir
	}
	if dir == "" {
		dir = "sendrecv"
	}
	var image *net.UDPAddr
	if imagePort > 0 {
		if a := net.ParseIP(sessionIP); a != nil {
			image = &net.UDPAddr{IP: a, Port: imagePort}
		}
	}
	if port <= 0 || ip == "" {
		if image != nil {
			// A fax-only offer (a T.38 re-INVITE): no audio, but usable.
			return Media{Image: true, ImageAddr: image, Direction: dir}, nil
		}
		return Media{}, ErrNoAudio
	}
	addr := net.ParseIP(ip)
	if addr == nil {
		return Media{}, fmt.Errorf("parse sdp address %q: %w", ip, ErrNoAudio)
	}
	return Media{Addr: &net.UDPAddr{IP: addr, Port: port}, Payloads: payloads, Direction: dir, Image: image != nil, ImageAddr: image}, nil
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
	return BuildSDPDirection(addr, sessionID, user, "sendrecv")
}

// BuildSDPDirection is BuildSDP with the stream's direction attribute
// ("sendonly" puts the far end on hold, "sendrecv" takes it off).
func BuildSDPDirection(addr *net.UDPAddr, sessionID uint64, user, direction string) []byte {
	if direction == "" {
		direction = "sendrecv"
	}
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
	fmt.Fprintf(&b, "a=%s\r\n", direction)
	return []byte(b.String())
}

// BuildT38SDP returns an SDP body offering (or accepting) T.38 fax over
// UDPTL on addr, as a re-INVITE switching a call to fax carries it
// (ITU-T T.38 Annex D).
func BuildT38SDP(addr *net.UDPAddr, sessionID uint64, user string) []byte {
	if user == "" {
		user = "-"
	}
	ip := addr.IP.String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=%s %d %d IN IP4 %s\r\n", user, sessionID, sessionID+1, ip)
	fmt.Fprintf(&b, "s=pbxsim\r\n")
	fmt.Fprintf(&b, "c=IN IP4 %s\r\n", ip)
	fmt.Fprintf(&b, "t=0 0\r\n")
	fmt.Fprintf(&b, "m=image %d udptl t38\r\n", addr.Port)
	fmt.Fprintf(&b, "a=T38FaxVersion:0\r\n")
	fmt.Fprintf(&b, "a=T38MaxBitRate:14400\r\n")
	fmt.Fprintf(&b, "a=T38FaxRateManagement:transferredTCF\r\n")
	fmt.Fprintf(&b, "a=T38FaxMaxDatagram:400\r\n")
	fmt.Fprintf(&b, "a=T38FaxUdpEC:t38UDPRedundancy\r\n")
	return []byte(b.String())
}
