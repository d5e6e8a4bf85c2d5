package interop

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/phone"
)

// waitBound returns once something listens on UDP addr (binding it
// fails), so that the first request is not lost.
func waitBound(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return
		}
		c.Close()
		select {
		case <-ctx.Done():
			t.Fatalf("nothing listens on %s", addr)
		case <-tick.C:
		}
	}
}

// TestPhoneToSIPpUAS: pbxsim's scripted phone places calls to SIPp's
// built-in uas scenario (180, 200 with SDP, ACK, BYE, 200), as it would to
// any SIP user agent, and hangs them up.
func TestPhoneToSIPpUAS(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed: run `make deps` (Debian package sip-tester)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	port := freeUDPPort(t)
	addr := net.JoinHostPort("127.0.0.1", port)
	dir := t.TempDir()
	stats := filepath.Join(dir, "uas_stats.csv")
	const calls = 5
	cmd := exec.CommandContext(ctx, sipp,
		"-sn", "uas", "-i", "127.0.0.1", "-p", port, "-t", "u1",
		"-m", "5", "-ci", "127.0.0.1", "-cp", freeUDPPort(t), "-mp", freeUDPPort(t),
		"-nostdin", "-trace_stat", "-stf", stats, "-fd", "1",
		"-timeout", "25s", "-timeout_error",
	)
	cmd.Dir = dir
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	waitBound(t, ctx, addr)

	ph, err := phone.New(ctx, phone.Config{User: "101", DisplayName: "Alice 101", Server: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	for i := range calls {
		c, err := ph.Dial(ctx, "service")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Answered():
		case <-c.Done():
			code, reason := c.Status()
			t.Fatalf("call %d ended %d %s", i, code, reason)
		case <-ctx.Done():
			t.Fatalf("call %d not answered", i)
		}
		if err := c.Hangup(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		want := []string{"send INVITE", "recv 180 INVITE", "recv 200 INVITE", "send ACK", "send BYE", "recv 200 BYE"}
		if got := c.Ladder(); !slices.Equal(got, want) {
			t.Errorf("call %d ladder %q, want %q", i, got, want)
		}
	}
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("sipp exited %d; last output:\n%s", exit.ExitCode(), tail(out, 40))
		} else if err != nil {
			t.Fatalf("run sipp: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
	if ok, failed := readStats(t, stats); ok != calls || failed != 0 {
		t.Fatalf("sipp uas: %d successful, %d failed calls; want %d and 0", ok, failed, calls)
	}
}
