package phone_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []phone.Config{
		{Server: "127.0.0.1:5060"},
		{User: "101"},
		{User: "101", Server: "127.0.0.1:5060", Transport: "sctp"},
		{User: "101", Server: "no-port"},
	} {
		if p, err := phone.New(ctx, cfg); err == nil {
			p.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestPhonesOverTCP checks a whole call between two phones through the
// PBX on TCP: caller id, RTP both ways, BYE from the callee.
func TestPhonesOverTCP(t *testing.T) {
	ctx, p := startPBX(t)
	bob := newPhone(t, ctx, phone.Config{User: "101", DisplayName: "Alice 101", Password: "secret101", Server: p.Addr(), Transport: "tcp"})
	if err := bob.Register(ctx); err != nil {
		t.Fatal(err)
	}
	carrier := newPhone(t, ctx, phone.Config{User: "2125559876", DisplayName: "John Smith", Server: p.Addr(), Transport: "tcp"})
	out, err := carrier.Dial(ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	var in *phone.Call
	select {
	case in = <-bob.Incoming():
	case <-ctx.Done():
		t.Fatal("no incoming call")
	}
	<-in.Ringing()
	if err := in.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.Answered():
	case <-ctx.Done():
		t.Fatal("caller not answered")
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for out.RTPReceived() == 0 || in.RTPReceived() == 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("rtp: caller %d, callee %d packets", out.RTPReceived(), in.RTPReceived())
		}
	}
	if err := in.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.Done():
	case <-ctx.Done():
		t.Fatal("caller not hung up")
	}
	if code, reason := out.Status(); code != 200 || reason != "remote BYE" {
		t.Errorf("caller status %d %q", code, reason)
	}
	if err := in.Answer(ctx); !errors.Is(err, phone.ErrCallOver) {
		t.Errorf("Answer after hangup: %v, want ErrCallOver", err)
	}
}

// TestNoRTPOneSocket: a NoRTP phone names one receiving socket in all its
// calls' SDP, and ending one call leaves it open for the others.
func TestNoRTPOneSocket(t *testing.T) {
	ctx, p := startPBX(t)
	alice := newPhone(t, ctx, phone.Config{User: "101", Password: "secret101", Server: p.Addr(), NoRTP: true})
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	if err := alice.Register(ctx); err != nil {
		t.Fatal(err)
	}
	var outs, ins []*phone.Call
	for _, num := range []string{"2125559876", "2125559877"} {
		carrier := newPhone(t, ctx, phone.Config{User: num, Server: p.Addr()})
		out, err := carrier.Dial(ctx, "2125550100")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case in := <-alice.Incoming():
			ins = append(ins, in)
		case <-ctx.Done():
			t.Fatal("no incoming call")
		}
		select {
		case <-out.Answered():
		case <-ctx.Done():
			t.Fatal("not answered")
		}
		outs = append(outs, out)
	}
	if a, b := ins[0].LocalMedia(), ins[1].LocalMedia(); a.String() != b.String() {
		t.Fatalf("NoRTP calls receive on %v and %v, want one socket", a, b)
	}
	if ins[0].RTPSent() != 0 {
		t.Errorf("NoRTP phone sent %d packets", ins[0].RTPSent())
	}
	if err := outs[0].Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ins[0].Done():
	case <-ctx.Done():
		t.Fatal("first call not over")
	}
	// The second caller's audio still reaches the shared socket.
	n := ins[1].RTPReceived()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ins[1].RTPReceived() < n+5 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("shared socket got %d packets after the first call ended, want more than %d", ins[1].RTPReceived(), n+5)
		}
	}
}

// startPBX starts a PBX on the default topology for the test's length.
func startPBX(t *testing.T) (context.Context, *pbx.PBX) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	p, err := pbx.New(pbx.DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return ctx, p
}

// newPhone starts a phone that lives as long as the test.
func newPhone(t *testing.T, ctx context.Context, cfg phone.Config) *phone.Phone {
	t.Helper()
	ph, err := phone.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ph.Close() })
	return ph
}
