package esl

import (
	"slices"
	"strings"
	"testing"

	"github.com/callhook/callhook/core/signal"
)

func create(tr *tracker, headers ...string) []signal.Signal {
	return tr.handle(ev(append([]string{"Event-Name", "CHANNEL_CREATE"}, headers...)...), t0)
}

func describe(sigs []signal.Signal) []string {
	var out []string
	for _, s := range sigs {
		d := s.Kind.String() + " " + s.Leg.ID
		if s.Peer.ID != "" {
			d += ">" + s.Peer.ID
		}
		out = append(out, d)
	}
	return out
}

// The answer to "show calls as json" after a reconnection: a leg gone
// meanwhile leaves its bridge and goes; a leg that got further is
// reported further; a new leg appears, dialled by the leg it is bridged
// with, and joins it; a leg a live event spoke of after the request is
// left alone; and the same answer twice reports nothing the second time.
func TestReconcile(t *testing.T) {
	tr := newTracker(nil, nil)
	create(tr, "Unique-ID", "a", "Call-Direction", "inbound", "Channel-Name", "sofia/external/2125559876@c", "variable_sip_gateway", "trunk",
		"Caller-Caller-ID-Number", "2125559876", "Caller-Destination-Number", "2125550100")
	create(tr, "Unique-ID", "b", "Call-Direction", "outbound", "Channel-Name", "sofia/internal/101@p", "variable_dialed_user", "101",
		"Other-Type", "originator", "Other-Leg-Unique-ID", "a", "Caller-Destination-Number", "101")
	tr.handle(ev("Event-Name", "CHANNEL_ANSWER", "Unique-ID", "b"), t0)
	tr.handle(ev("Event-Name", "CHANNEL_BRIDGE", "Unique-ID", "a", "Bridge-A-Unique-ID", "a", "Bridge-B-Unique-ID", "b"), t0)
	create(tr, "Unique-ID", "c", "Call-Direction", "inbound", "Channel-Name", "sofia/internal/103@p", "variable_user_name", "103",
		"Caller-Destination-Number", "104")
	mark := tr.mark()
	// A live event after the request: c is the live events' to report.
	tr.handle(ev("Event-Name", "CHANNEL_PROGRESS", "Unique-ID", "c"), t0)

	// While away: b hung up, the caller was sent to 102 (d), who
	// answered; c is not in the answer, but was spoken of since.
	body := `{"row_count":1,"rows":[{"uuid":"a","direction":"inbound","created_epoch":"1","name":"sofia/external/2125559876@c",` +
		`"cid_num":"2125559876","dest":"102","callstate":"ACTIVE","call_uuid":"a",` +
		`"b_uuid":"d","b_direction":"outbound","b_created_epoch":"2","b_name":"sofia/internal/102@p","b_presence_id":"102@p",` +
		`"b_dest":"102","b_callstate":"ACTIVE"}]}`
	sigs, err := tr.reconcile([]byte(body), t0, mark)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Left b", "Left a", "LegGone b", "LegAnswered a", "LegAppeared d", "Dialling a>d", "LegAnswered d",
		"DialEnded a>d", "Joined a", "Joined d"}
	if got := describe(sigs); !slices.Equal(got, want) {
		t.Fatalf("resync\n%v\nwant\n%v", got, want)
	}
	for _, s := range sigs {
		if s.Leg.ID == "d" && (s.Leg.Endpoint != "102" || s.Leg.Call != "a") {
			t.Errorf("the new leg %+v", s.Leg)
		}
		if !s.Time.Equal(t0) {
			t.Errorf("%s at %s, want the resync's time", s.Kind, s.Time)
		}
	}
	again, err := tr.reconcile([]byte(body), t0, mark)
	if err != nil || len(again) != 0 {
		t.Errorf("the same answer again: %v %v", describe(again), err)
	}
	// Live events the answer already covered are not reported again.
	if got := tr.handle(ev("Event-Name", "CHANNEL_ANSWER", "Unique-ID", "d"), t0); len(got) != 0 {
		t.Errorf("a late answer: %v", describe(got))
	}
	if got := tr.handle(ev("Event-Name", "CHANNEL_HANGUP_COMPLETE", "Unique-ID", "b"), t0); len(got) != 0 {
		t.Errorf("a late hangup of a leg gone: %v", describe(got))
	}
	if _, err := tr.reconcile([]byte("-ERR no reply\n"), t0, tr.mark()); err == nil || !strings.Contains(err.Error(), "-ERR") {
		t.Errorf("an error answer: %v", err)
	}
	if sigs, err := tr.reconcile([]byte(`{"row_count": 0}`+"\n"), t0, tr.mark()); err != nil || len(sigs) == 0 {
		t.Errorf("nothing up: %v %v", describe(sigs), err)
	}
}
