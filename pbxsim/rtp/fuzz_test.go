package rtp

import (
	"net"
	"testing"
)

// FuzzParseSDP: any body parses or fails cleanly, and what parses
// survives a round trip through BuildSDP.
func FuzzParseSDP(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\r\nc=IN IP4 127.0.0.1\r\nm=image 4002 udptl t38\r\na=T38FaxVersion:0\r\n"))
	f.Add([]byte("m=audio 0/2 RTP/AVP\nc=IN IP6 ::1\n"))
	f.Add([]byte("c=IN IP4 300.1.1.1\r\nm=audio 5 RTP/AVP x\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseSDP(body)
		if err != nil || m.Addr == nil {
			return
		}
		if m.Addr.Port <= 0 {
			t.Fatalf("parsed port %d", m.Addr.Port)
		}
		if m.Addr.IP.To4() == nil {
			return // BuildSDP writes IP4 only
		}
		back, err := ParseSDP(BuildSDPDirection(m.Addr, 1, "f", m.Direction))
		if err != nil || !back.Addr.IP.Equal(m.Addr.IP) || back.Addr.Port != m.Addr.Port || back.Direction != m.Direction {
			t.Fatalf("round trip of %+v: %+v %v", m, back, err)
		}
	})
}

func TestParseSDPT38AndDirection(t *testing.T) {
	fax := "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=image 4002 udptl t38\r\na=T38FaxVersion:0\r\na=T38FaxRateManagement:transferredTCF\r\n"
	m, err := ParseSDP([]byte(fax))
	if err != nil || !m.Image || m.ImageAddr.String() != "127.0.0.1:4002" || m.Addr != nil {
		t.Fatalf("T.38 offer: %+v %v", m, err)
	}
	held, err := ParseSDP(BuildSDPDirection(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, 1, "x", "sendonly"))
	if err != nil || held.Direction != "sendonly" {
		t.Fatalf("hold offer: %+v %v", held, err)
	}
}
