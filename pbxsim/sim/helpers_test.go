package sim_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/ami"
	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/pbxsim/sim"
)

// startSim starts a simulator (speed 1 unless given) that lives as long
// as the test, with a context bounding the test.
func startSim(t *testing.T, speed float64, timeout time.Duration) (context.Context, *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	s, err := sim.Start(ctx, sim.Config{Speed: speed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ctx, s
}

// manager logs in to the simulator's AMI (events on or off) and returns
// the connection, read through r.
func manager(t *testing.T, s *sim.Sim, events bool, deadline time.Duration) (conn net.Conn, r *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", s.AMIAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(deadline))
	r = bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("read the AMI banner: %v", err)
	}
	ev := "on"
	if !events {
		ev = "off"
	}
	fmt.Fprintf(conn, "Action: Login\r\nUsername: %s\r\nSecret: %s\r\nEvents: %s\r\n\r\n", s.AMIUser(), s.AMISecret(), ev)
	if m, err := ami.ReadMessage(r); err != nil || m.Get("Response") != "Success" {
		t.Fatalf("login: %v %v", m, err)
	}
	return conn, r
}

// callIn places a call from the carrier's John Smith (2125559876) to did.
func callIn(t *testing.T, ctx context.Context, s *sim.Sim, did string) *phone.Call {
	t.Helper()
	caller, err := phone.New(ctx, phone.Config{User: "2125559876", DisplayName: "John Smith", Server: s.PBXAddr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	out, err := caller.Dial(ctx, did)
	if err != nil {
		t.Fatalf("dial %s from the trunk: %v", did, err)
	}
	return out
}

// await fails the test unless ch closes before ctx ends.
func await(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s (gave up waiting: %v)", what, ctx.Err())
	}
}
