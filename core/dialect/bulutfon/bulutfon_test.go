package bulutfon_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/dialect/bulutfon"
	"github.com/callhook/callhook/fixtures"
)

// replay plays an AMI sequence through the connector's decoder, the call
// model with landings, and the dialect; it returns each request's decoded
// body.
func replay(t *testing.T, file string, opts ...bulutfon.Option) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "fixtures", "ami", "sequences", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	m := callmodel.New()
	u, _ := url.Parse("http://127.0.0.1:9000/hook")
	d := bulutfon.New("crm", u, append([]bulutfon.Option{bulutfon.WithLocation(time.UTC)}, opts...)...)
	var out []map[string]any
	for _, s := range sigs {
		for _, ev := range m.Handle(s) {
			r, ok := d.Render(ev)
			if !ok {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(r.Body))
			dec.UseNumber()
			var p map[string]any
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("body %s: %v", r.Body, err)
			}
			out = append(out, p)
		}
	}
	return out
}

func types(ps []map[string]any) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p["event_type"].(string))
	}
	return out
}

func TestRingGroupLandsOnTheGroup(t *testing.T) {
	got := replay(t, "ring_group_answered.log")
	want := []string{"call_init", "incoming_call_group", "call_hangup"}
	if strings.Join(types(got), ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", types(got), want)
	}
	if d := got[1]["destination"]; d != json.Number("600") {
		t.Errorf("destination %v, want the group 600", d)
	}
	h := got[2]
	if h["talk_duration"] != json.Number("10") || h["result_disposition"] != "SUCCESS" || h["hangup_detail"] != "recv_bye" {
		t.Errorf("hangup %v: want talk 10, SUCCESS, recv_bye (the caller hung up)", h)
	}
}

func TestMenuListeningCountsAsTalk(t *testing.T) {
	got := replay(t, "ivr_menu_caller_hangs_up.log")
	want := []string{"call_init", "call_init_menu", "call_hangup", "missing_call"}
	if strings.Join(types(got), ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", types(got), want)
	}
	if d := got[1]["destination"]; d != "ivr-main" {
		t.Errorf("menu destination %v, want the menu's context ivr-main", d)
	}
	if got[2]["talk_duration"] != json.Number("7") {
		t.Errorf("talk_duration %v, want the 7 s spent in the menu", got[2]["talk_duration"])
	}
}

func TestLegacyCallflowGoesThroughTheMenu(t *testing.T) {
	got := replay(t, "ivr_menu_caller_hangs_up.log", bulutfon.WithProfile(bulutfon.Profile{Legacy: true}))
	cdr := got[2]["cdr"].(map[string]any)
	flow := cdr["callflow"].([]any)
	if len(flow) != 2 {
		t.Fatalf("callflow %v, want the DID then the menu", flow)
	}
	first, second := flow[0].(map[string]any), flow[1].(map[string]any)
	if first["redirection"] != "REDIRECTED_TO_MENU" || first["redirection_target"] != "ivr-main" || second["redirection"] != "CONNECTING_TO_MENU" {
		t.Errorf("callflow %v", flow)
	}
	if cdr["sip_hangup_disposition"] != "recv_bye" || cdr["call_time"] != "2026-11-24T01:33:20Z" {
		t.Errorf("cdr %v", cdr)
	}
}

func TestFaxInit(t *testing.T) {
	got := replay(t, "fax_inbound.log")
	if len(got) < 2 || got[1]["event_type"] != "fax_init" || got[1]["callee"] != json.Number("2125550700") {
		t.Fatalf("events %v, want call_init then fax_init for DID 2125550700", types(got))
	}
	if n := strings.Count(strings.Join(types(got), ","), "fax_init"); n != 1 {
		t.Errorf("%d fax_init events, want one per call", n)
	}
}

func TestOneUUIDPerCallStableAcrossReplays(t *testing.T) {
	a, b := replay(t, "ring_group_answered.log"), replay(t, "ring_group_answered.log")
	for i := range a {
		if a[i]["uuid"] != a[0]["uuid"] || b[i]["uuid"] != a[0]["uuid"] {
			t.Fatalf("uuid changes: %v / %v", a[i]["uuid"], b[i]["uuid"])
		}
	}
	if u := bulutfon.CallUUID("x"); u[14] != '5' {
		t.Errorf("uuid %s is not version 5", u)
	}
}

func TestNumbersKeepTheirDigits(t *testing.T) {
	for v, plain := range map[string]bool{
		"90532000000": true, "101": true, "908508850000": true, "0532000000": false,
		"+905320000000": false, "1234567890123456": false, "123456789012345": true, "ivr-main": false, "0": false,
	} {
		if bulutfon.IsPlainNumber(v) != plain {
			t.Errorf("IsPlainNumber(%q) = %t, want %t", v, !plain, plain)
		}
	}
	u, _ := url.Parse("http://127.0.0.1/hook")
	d := bulutfon.New("crm", u)
	r, ok := d.Render(callmodel.Event{Kind: callmodel.Initiated, Direction: callmodel.Inbound, External: "+905320000000",
		DID: "08508850000", Time: time.UnixMicro(1435762851086820)})
	if !ok {
		t.Fatal("not rendered")
	}
	if !bytes.Contains(r.Body, []byte(`"caller":"+905320000000","callee":"08508850000"`)) || !bytes.Contains(r.Body, []byte(`"timestamp":1435762851086820`)) {
		t.Errorf("body %s", r.Body)
	}
}

// TestKeysInTheDocumentsOrder: a call_init renders the example's keys in
// the example's order.
func TestKeysInTheDocumentsOrder(t *testing.T) {
	ex, err := fixtures.BulutfonExamples("current")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1/hook")
	d := bulutfon.New("crm", u, bulutfon.WithAccount("1234", "5678"))
	r, _ := d.Render(callmodel.Event{Kind: callmodel.Initiated, Direction: callmodel.Inbound, External: "90532000000",
		DID: "908508850000", Time: time.UnixMicro(1435762851086820)})
	if keys(t, r.Body) != keys(t, ex["call_init"]) {
		t.Errorf("keys %s, the example's %s", keys(t, r.Body), keys(t, ex["call_init"]))
	}
}

func keys(t *testing.T, b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 && dec.More() {
				out = append(out, v)
				_, _ = dec.Token()
			}
		}
	}
	return strings.Join(out, ",")
}

func TestFormNestsTheLegacyCDR(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1/hook")
	d := bulutfon.New("crm", u, bulutfon.WithForm(), bulutfon.WithProfile(bulutfon.Profile{Legacy: true}), bulutfon.WithLocation(time.UTC))
	base := callmodel.Event{Direction: callmodel.Inbound, External: "905326200000", DID: "908508850000", Time: time.Unix(1435762851, 0)}
	for _, k := range []callmodel.Kind{callmodel.Initiated, callmodel.Ended} {
		ev := base
		ev.Kind, ev.Cause, ev.Finish, ev.EndedBy = k, 16, callmodel.FinishOK, callmodel.ByCaller
		if k == callmodel.Ended {
			// The model attaches the call's way to the event that ends it.
			ev.History = &callmodel.History{Start: base.Time, Steps: []callmodel.Step{{Destination: base.DID, Start: base.Time}}}
		}
		r, ok := d.Render(ev)
		if !ok {
			t.Fatal("not rendered")
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		q, err := url.ParseQuery(string(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		if k == callmodel.Ended && (q.Get("cdr[sip_hangup_disposition]") != "recv_bye" || q.Get("cdr[callflow][0][callee]") != "908508850000") {
			t.Errorf("form %s", r.Body)
		}
	}
}

func TestBindingAndSubset(t *testing.T) {
	set, err := bulutfon.ParseEvents([]string{"call_init_manu", "call_hangup"})
	if err != nil || !set["call_init_menu"] || !set["call_hangup"] {
		t.Fatalf("ParseEvents: %v %v", set, err)
	}
	if _, err := bulutfon.ParseEvents([]string{"ringing"}); err == nil {
		t.Error("unknown event accepted")
	}
	u, _ := url.Parse("http://127.0.0.1/hook")
	d := bulutfon.New("crm", u, bulutfon.WithPBXNumber("2125550100"), bulutfon.WithEvents(set))
	ev := callmodel.Event{Kind: callmodel.Ended, Direction: callmodel.Inbound, DID: "2125550100", Finish: callmodel.FinishOK}
	if _, ok := d.Render(ev); !ok {
		t.Error("bound call_hangup not sent")
	}
	ev.DID = "2125550800"
	if _, ok := d.Render(ev); ok {
		t.Error("another DID's call sent")
	}
	if _, ok := d.Render(callmodel.Event{Kind: callmodel.Initiated, Direction: callmodel.Inbound, DID: "2125550100"}); ok {
		t.Error("event outside the subset sent")
	}
}

// Legacy cdr.call_record says whether the call was recorded: capture 01's
// answered call runs MixMonitor, the menu call that is never answered does
// not.
func TestLegacyCallRecord(t *testing.T) {
	legacy := bulutfon.WithProfile(bulutfon.Profile{Legacy: true})
	for _, tt := range []struct {
		file string
		want bool
	}{
		{filepath.Join("..", "asterisk22", "01_inbound_answered.log"), true},
		{"ivr_menu_caller_hangs_up.log", false},
	} {
		var cdr map[string]any
		for _, p := range replay(t, tt.file, legacy) {
			if c, ok := p["cdr"].(map[string]any); ok {
				cdr = c
			}
		}
		if cdr == nil {
			t.Fatalf("%s: no call_hangup with a cdr", tt.file)
		}
		if cdr["call_record"] != tt.want {
			t.Errorf("%s: call_record = %v, want %v", tt.file, cdr["call_record"], tt.want)
		}
	}
}
