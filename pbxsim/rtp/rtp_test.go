package rtp

import (
	"context"
	"testing"
	"time"
)

func TestULawRoundTrip(t *testing.T) {
	for _, v := range []int16{0, 100, -100, 1000, -1000, 8000, -8000, 32000, -32000} {
		got := LinearFromULaw(ULaw(v))
		if d := abs(int(got) - int(v)); d > abs(int(v))/16+16 {
			t.Errorf("ulaw(%d) decodes to %d", v, got)
		}
	}
	if ULaw(0) != 0xFF {
		t.Errorf("ULaw(0) = %#x, want 0xff", ULaw(0))
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestParseSDPLenient(t *testing.T) {
	body := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=image 4000 udptl t38\r\nbogus line\r\nm=audio 4002 RTP/AVP 8 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
	m, err := ParseSDP([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr.String() != "127.0.0.1:4002" || !m.Offers(0) || m.Offers(9) {
		t.Fatalf("got %+v", m)
	}
	if _, err := ParseSDP([]byte("v=0\r\n")); err == nil {
		t.Fatal("want error for SDP without audio")
	}
	back, err := ParseSDP(BuildSDP(m.Addr, 7, "x"))
	if err != nil || back.Addr.String() != m.Addr.String() || !back.Offers(0) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestSessionsExchangeRTP(t *testing.T) {
	a, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.Send(ctx, NewTone(400))
	b.Send(ctx, Silence{})
	for a.Received() < 3 || b.Received() < 3 {
		select {
		case <-ctx.Done():
			t.Fatalf("waited 30 s for 3 RTP packets each way: received a=%d b=%d", a.Received(), b.Received())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSendCloseRace: a call answered and hung up at the same moment starts
// and closes its media concurrently (run with -race); a Send after Close
// starts nothing.
func TestSendCloseRace(t *testing.T) {
	for range 50 {
		s, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Send(context.Background(), NewTone(400))
		}()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s.Send(context.Background(), NewTone(400))
	if s.SendDigits(t.Context(), "1") != ErrNotSending {
		t.Error("a closed session started sending")
	}
}
