package recording_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/scenarios"
)

// TestSimulatedMobileReconnect plays the built-in mobile-reconnect
// scenario through pbxsim: 101's device drops after 8 s and comes back
// with INVITE/Replaces, the PBX records each segment to its own WAV file
// as MixMonitor does on the new channel. The receiver gets one recording
// POST with both MP3 links, in order, that download over HTTPS with the
// segments' durations and refuse tampered or expired tokens; the
// analytics POST follows. The scenario runs 5 times faster: timers and
// the PBX clock are scaled, but RTP flows in real time, so each file
// lasts its segment divided by the speed.
func TestSimulatedMobileReconnect(t *testing.T) {
	const speed = 5
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, _ := url.Parse(recv.URL() + "/hook")
	var mu sync.Mutex
	var answered, ended time.Time
	h, err := harness.Start(ctx, harness.Config{Dialect: "3cx", Target: target, Recordings: recordingsConfig(t), Speed: speed,
		OnEvent: func(ev callmodel.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Kind {
			case callmodel.Answered:
				answered = ev.Time
			case callmodel.Ended:
				ended = ev.Time
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sc, err := scenarios.Load("mobile-reconnect")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Play(ctx, sc); err != nil {
		t.Fatal(err)
	}
	p := waitPosts(t, recv, 1, 15*time.Second)
	if len(p.recordings) != 1 || strings.Join(p.order, ",") != "recording,analytics" {
		t.Fatalf("POSTs in order %v, want one recording then one analytics", p.order)
	}
	rec := p.recordings[0]
	id := rec.Query.Get("id")
	links := files(t, rec)
	if len(links) < 2 {
		t.Fatalf("FILES = %v, want at least 2 links", links)
	}
	mu.Lock()
	talk := ended.Sub(answered) / speed
	mu.Unlock()
	t.Logf("talk %s of wall time (%s on the PBX clock)", talk, talk*speed)
	c := client(h.Service.Recorder.CertPool())
	// The scenario's segments: 8 s, then 10 s (its total talk, 18 s).
	segments := []time.Duration{talk * 8 / 18, talk * 10 / 18}
	for i, l := range links[:2] {
		if !strings.Contains(l, "/webapi/recording/"+id+"-"+string(rune('1'+i))+".mp3?token=") {
			t.Errorf("link %d = %s, want …/%s-%d.mp3?token=…", i+1, l, id, i+1)
		}
		downloadMP3(t, c, l, segments[i])
		refused(t, c, h.Service.Recorder.URL(), l)
	}
	if an := p.analytics[0]; an.Query.Get("id") != id {
		t.Errorf("analytics POST id %q, want %q", an.Query.Get("id"), id)
	}
}
