package bulutfon_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/core/dialect/bulutfon"
)

// On FreeSWITCH (the esl connector's decoding of the simulator's event
// socket streams), uuid is the call's own UUID, hangup_cause
// FreeSWITCH's cause name and hangup_detail the caller leg's
// sip_hangup_disposition in the document's words.
func TestFreeSWITCHValues(t *testing.T) {
	for _, c := range []struct {
		file, cause, detail string
	}{
		{"inbound-answered.plain", "NORMAL_CLEARING", "recv_bye"},
		{"inbound-missed.json", "NO_ANSWER", "send_refuse"},
	} {
		sigs, err := esl.DecodeFile("../../../fixtures/esl/pbxsim/"+c.file, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		callID := sigs[0].Leg.Call
		m := callmodel.New()
		u, _ := url.Parse("http://127.0.0.1:9000/hook")
		d := bulutfon.New("crm", u, bulutfon.WithLocation(time.UTC))
		var hangup map[string]any
		n := 0
		for _, s := range sigs {
			for _, ev := range m.Handle(s) {
				r, ok := d.Render(ev)
				if !ok {
					continue
				}
				n++
				var p map[string]any
				dec := json.NewDecoder(bytes.NewReader(r.Body))
				dec.UseNumber()
				if err := dec.Decode(&p); err != nil {
					t.Fatal(err)
				}
				if p["uuid"] != callID {
					t.Errorf("%s: %s uuid %v, want the call's %s", c.file, p["event_type"], p["uuid"], callID)
				}
				if p["event_type"] == "call_hangup" {
					hangup = p
				}
			}
		}
		if n == 0 || hangup == nil {
			t.Fatalf("%s: %d requests, no call_hangup", c.file, n)
		}
		if hangup["hangup_cause"] != c.cause || hangup["hangup_detail"] != c.detail {
			t.Errorf("%s: hangup_cause %v hangup_detail %v, want %s %s", c.file, hangup["hangup_cause"], hangup["hangup_detail"], c.cause, c.detail)
		}
	}
}

// The PBX's words, put in the document's three hangup_detail values; a
// PBX id that is no UUID keeps the derived uuid.
func TestHangupWordsAndIDs(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9000/hook")
	d := bulutfon.New("crm", u, bulutfon.WithLocation(time.UTC))
	base := callmodel.Event{Kind: callmodel.Ended, Time: time.Unix(1796228924, 0), Direction: callmodel.Inbound,
		External: "2125559876", DID: "2125550100", User: "101", Finish: callmodel.FinishOK, Cause: 16,
		ID: callmodel.CallID{Start: time.Unix(1796228900, 0), Number: 3, Link: 1}}
	for words, want := range map[string]string{"recv_bye": "recv_bye", "recv_cancel": "recv_bye", "send_bye": "send_bye",
		"send_cancel": "send_bye", "send_refuse": "send_refuse", "recv_refuse": "send_refuse"} {
		ev := base
		ev.PBXCallID = "7F3C2A10-1B2C-4D5E-8F90-A1B2C3D4E5F6"
		ev.HangupCause, ev.HangupDisposition = "ORIGINATOR_CANCEL", words
		r, ok := d.Render(ev)
		if !ok {
			t.Fatal("no request")
		}
		var p map[string]any
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if p["hangup_detail"] != want || p["hangup_cause"] != "ORIGINATOR_CANCEL" || p["uuid"] != "7f3c2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6" {
			t.Errorf("%s: %v %v %v", words, p["hangup_detail"], p["hangup_cause"], p["uuid"])
		}
	}
	ev := base
	ev.PBXCallID = "1796228900.3"
	r, _ := d.Render(ev)
	var p map[string]any
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p["uuid"] != bulutfon.CallUUID(ev.ID.Chain()) || p["hangup_cause"] != "NORMAL_CLEARING" {
		t.Errorf("an Asterisk id: uuid %v cause %v", p["uuid"], p["hangup_cause"])
	}
}
