package pbx_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
)

func TestMobileReconnect(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			dir := t.TempDir()
			e := start(t, func(c *pbx.Config) { c.Recordings = dir })
			alice := e.extPhone(t, "101", "Alice 101", transport)
			out, in := answeredCall(t, e, alice, transport)
			eventually(t, "rtp on the first segment", func() bool { return in.RTPReceived() >= 3 })

			back, err := alice.Reconnect(e.ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, back.Answered(), "reconnected")
			wait(t, e.ctx, in.Done(), "old call dropped")
			eventually(t, "rtp from the caller on the new leg", func() bool { return back.RTPReceived() >= 5 })
			before := out.RTPReceived()
			eventually(t, "rtp to the caller from the new leg", func() bool { return out.RTPReceived() >= before+5 })
			if !out.Up() {
				t.Fatal("the caller's call ended")
			}
			if err := out.Hangup(e.ctx); err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, back.Done(), "new leg hung up")
			if err := e.pbx.WaitIdle(e.ctx); err != nil {
				t.Fatal(err)
			}
			if l := back.Ladder(); !slices.Equal(l, []string{"send INVITE", "recv 401 INVITE", "send INVITE with credentials",
				"recv 200 INVITE", "send ACK", "recv BYE", "send 200 BYE"}) {
				t.Errorf("new leg's ladder %q", l)
			}
			sameLines(t, "AMI", transferEvents(e.rec.all()), []string{
				"DialBegin trunk>101", "MixMonitorStart 101", "DialEnd trunk>101 ANSWER", "BridgeEnter 101", "BridgeEnter trunk",
				"Unhold 101", "BridgeLeave 101", "BridgeEnter 101", "Hangup 101", "MixMonitorStart 101",
				"BridgeLeave trunk", "BridgeLeave 101", "Hangup 101", "Hangup trunk",
			})
			// Each segment has its own recording.
			files, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
			if len(files) != 2 {
				t.Fatalf("recordings %v, want one per segment", files)
			}
			for _, f := range files {
				checkWAV(t, f)
			}
		})
	}
}
