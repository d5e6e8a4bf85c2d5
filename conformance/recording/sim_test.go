// Package recording_test plays calls through the whole product — the PBX
// simulator recording RTP to WAV and announcing it as MixMonitor does, the
// engine's AMI connector, call model and recorder, lame, the HTTPS
// download server and durable delivery — and checks the recording and
// analytics POSTs a receiver gets and the files behind their links.
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
	"github.com/callhook/callhook/pbxsim/scenario"
)

const shortCall = `name: recorded-call
summary: an answered inbound call, short enough for a unit test
phones:
  "101": {answer_after: 300ms}
steps:
  - call: {id: c1, from: "2125559876", name: John Smith, to: "2125550100"}
  - wait: {call: c1, for: answered, within: 10s}
  - pause: 2500ms
  - hangup: c1
  - wait: {call: c1, for: ended}
`

// TestSimulatedCallRecording: one answered call through pbxsim gives one
// recording POST (after the call's own webhooks, id in the query) whose MP3
// link downloads over HTTPS with the talk time's duration, 403 for a
// tampered or expired token, and then one analytics POST.
func TestSimulatedCallRecording(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, _ := url.Parse(recv.URL() + "/hook")
	var mu sync.Mutex
	var answered, ended time.Time
	var endID callmodel.CallID
	rc := recordingsConfig(t)
	h, err := harness.Start(ctx, harness.Config{Dialect: "3cx", Target: target, Recordings: rc,
		OnEvent: func(ev callmodel.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Kind {
			case callmodel.Answered:
				answered = ev.Time
			case callmodel.Ended:
				ended, endID = ev.Time, ev.ID
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sc, err := scenario.Parse("recorded-call.yaml", strings.NewReader(shortCall))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Play(ctx, sc); err != nil {
		t.Fatal(err)
	}
	p := waitPosts(t, recv, 1, 15*time.Second)
	mu.Lock()
	talk := ended.Sub(answered)
	mu.Unlock()
	if len(p.recordings) != 1 || strings.Join(p.order, ",") != "recording,analytics" {
		t.Fatalf("POSTs in order %v, want one recording then one analytics", p.order)
	}
	rec := p.recordings[0]
	reqs := recv.Requests()
	var endedQuery url.Values
	for _, r := range reqs {
		if r.Query.Get("event") == "incoming" {
			endedQuery = r.Query
		}
	}
	if endedQuery == nil || rec.Query.Get("id") == "" || rec.Query.Get("id") != endedQuery.Get("id") {
		t.Errorf("recording id %q, call-end id %q", rec.Query.Get("id"), endedQuery.Get("id"))
	}
	if endID.Link != 1 {
		t.Errorf("call ended on link %d, want 1", endID.Link)
	}
	links := files(t, rec)
	if len(links) != 1 {
		t.Fatalf("FILES = %v, want one link", links)
	}
	wantName := rec.Query.Get("id") + "-1.mp3"
	if !strings.Contains(links[0], "/webapi/recording/"+wantName+"?token=") {
		t.Errorf("link %s, want .../webapi/recording/%s?token=…", links[0], wantName)
	}
	c := client(h.Service.Recorder.CertPool())
	downloadMP3(t, c, links[0], talk)
	refused(t, c, h.Service.Recorder.URL(), links[0])

	an := p.analytics[0]
	if an.Query.Get("id") != rec.Query.Get("id") || !an.Time.After(rec.Time) && !an.Time.Equal(rec.Time) {
		t.Errorf("analytics POST id %q at %s, recording %q at %s", an.Query.Get("id"), an.Time, rec.Query.Get("id"), rec.Time)
	}
	if !strings.Contains(string(an.Body), `"SUMMARY":"no transcript; speech in`) {
		t.Errorf("analytics body %s", an.Body)
	}
}
