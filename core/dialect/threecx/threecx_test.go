package threecx_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/fixtures"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The Turkish edition prints two complete requests; events that carry the
// same data must render to exactly those URLs.
func TestDocumentExamples(t *testing.T) {
	rules, err := fixtures.LoadThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	d := threecx.New("crm", mustURL(t, "https://webhook.site/"), threecx.WithLocation(time.UTC))
	events := []callmodel.Event{
		{Kind: callmodel.Ringing, Direction: callmodel.Inbound, External: "425630434343", User: "120",
			UserType: callmodel.UserOther, DID: "CompanyDID",
			ID: callmodel.CallID{Start: time.Date(2021, 12, 30, 10, 6, 14, 0, time.UTC), Number: 331, Link: 0}},
		{Kind: callmodel.Answered, Direction: callmodel.Inbound, External: "425630434343", User: "120",
			UserType: callmodel.UserExtension, DID: "CompanyDID", Transfer: callmodel.NotTransferred,
			ID: callmodel.CallID{Start: time.Date(2022, 1, 6, 20, 59, 45, 0, time.UTC), Number: 323, Link: 1}},
	}
	for i, ev := range events {
		req, ok := d.Render(ev)
		if !ok {
			t.Fatalf("event %v not rendered", ev.Kind)
		}
		if req.URL != rules.Examples[i] {
			t.Errorf("rendered\n  %s\nthe document shows\n  %s", req.URL, rules.Examples[i])
		}
		if req.Method != rules.Transport.Method {
			t.Errorf("method %s, the document's requests are %s", req.Method, rules.Transport.Method)
		}
	}
}

func TestFormatID(t *testing.T) {
	rules, err := fixtures.LoadThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	// "Example ID: 210701165649_698-2"
	got := threecx.FormatID(callmodel.CallID{Start: time.Date(2021, 7, 1, 16, 56, 49, 0, time.UTC), Number: 698, Link: 2}, time.UTC)
	if got != rules.ID.Examples[0] {
		t.Errorf("FormatID = %s, document example %s", got, rules.ID.Examples[0])
	}
	if !regexp.MustCompile(rules.ID.Pattern).MatchString(got) {
		t.Errorf("%s does not match %s", got, rules.ID.Pattern)
	}
}

// Each event renders with exactly the fields the document lists for it.
func TestFieldsPerEvent(t *testing.T) {
	rules, err := fixtures.LoadThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 24, 1, 0, 57, 0, time.UTC)
	base := callmodel.Event{External: "2125559876", DID: "2125550100", DIDName: "2125550100", User: "101",
		UserType: callmodel.UserExtension, ID: callmodel.CallID{Start: start, Number: 0}}
	with := func(f func(*callmodel.Event)) callmodel.Event { e := base; f(&e); return e }
	tests := []struct {
		name   string
		ev     callmodel.Event
		event  string
		values map[string]string
	}{
		{"ringing at an extension", with(func(e *callmodel.Event) { e.Kind = callmodel.Ringing; e.Direction = callmodel.Inbound }),
			"ringing", map[string]string{"usertype": "ext", "id": "261124010057_0-0", "callerid": "2125559876", "did": "2125550100", "user": "101"}},
		{"outbound dialing", with(func(e *callmodel.Event) {
			e.Kind = callmodel.Dialing
			e.Direction = callmodel.Outbound
			e.External = "12125550199"
		}), "dialing", map[string]string{"callerid": "12125550199", "user": "101", "usertype": "ext"}},
		{"inbound call started", with(func(e *callmodel.Event) {
			e.Kind = callmodel.Answered
			e.Direction = callmodel.Inbound
			e.ID.Link = 1
			e.Transfer = callmodel.NotTransferred
		}), "hangupincoming", map[string]string{"trtype": "NotDef", "id": "261124010057_0-1"}},
		{"outbound call started", with(func(e *callmodel.Event) {
			e.Kind = callmodel.Answered
			e.Direction = callmodel.Outbound
			e.ID.Link = 1
			e.Transfer = callmodel.NotTransferred
		}), "hangupoutgoing", map[string]string{"trtype": "NotDef"}},
		{"inbound answered call ended", with(func(e *callmodel.Event) {
			e.Kind = callmodel.Ended
			e.Direction = callmodel.Inbound
			e.ID.Link = 1
			e.Finish = callmodel.FinishOK
			e.Talk = 8 * time.Second
		}), "incoming", map[string]string{"finishtype": "Ok", "transfer": "false", "duration": "8"}},
		{"inbound missed call ended", with(func(e *callmodel.Event) {
			e.Kind = callmodel.Ended
			e.Direction = callmodel.Inbound
			e.Finish = callmodel.FinishMissed
		}), "incoming", map[string]string{"finishtype": "Missed", "transfer": "false", "id": "261124010057_0-0"}},
	}
	d := threecx.New("crm", mustURL(t, "http://127.0.0.1:9000/hook"), threecx.WithLocation(time.UTC))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, ok := d.Render(tt.ev)
			if !ok {
				t.Fatal("not rendered")
			}
			u := mustURL(t, req.URL)
			if u.Path != "/hook" || u.Host != "127.0.0.1:9000" {
				t.Errorf("sent to %s", req.URL)
			}
			q := u.Query()
			rule, ok := rules.Events[tt.event]
			if !ok {
				t.Fatalf("no rule for %s", tt.event)
			}
			var keys []string
			for _, kv := range strings.Split(u.RawQuery, "&") {
				k, _, _ := strings.Cut(kv, "=")
				keys = append(keys, k)
			}
			for _, f := range rule.Fields {
				if !q.Has(f) {
					t.Errorf("%s lacks documented field %s (%s)", tt.event, f, u.RawQuery)
				}
			}
			for _, k := range keys {
				if !slices.Contains(rule.Fields, k) && !slices.Contains(rule.Optional, k) {
					t.Errorf("%s carries undocumented field %s", tt.event, k)
				}
			}
			for f, allowed := range rule.Values {
				if !slices.Contains(allowed, q.Get(f)) {
					t.Errorf("%s=%q, document allows %v", f, q.Get(f), allowed)
				}
			}
			if q.Get("event") != tt.event {
				t.Errorf("event=%s, want %s", q.Get("event"), tt.event)
			}
			for k, v := range tt.values {
				if q.Get(k) != v {
					t.Errorf("%s=%q, want %q", k, q.Get(k), v)
				}
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	p, err := threecx.ParseProfile("started=incomingcall_started,trtype=Accom")
	if err != nil {
		t.Fatal(err)
	}
	d := threecx.New("crm", mustURL(t, "http://127.0.0.1/"), threecx.WithProfile(p))
	req, _ := d.Render(callmodel.Event{Kind: callmodel.Answered, Direction: callmodel.Inbound, Transfer: callmodel.TransferAttended})
	q := mustURL(t, req.URL).Query()
	// Turkish edition: "event = incomingcall_started / outgoingcall_started", "trtype = NotDef / Blind / Accom".
	if q.Get("event") != "incomingcall_started" || q.Get("trtype") != "Accom" {
		t.Errorf("profile gave event=%s trtype=%s", q.Get("event"), q.Get("trtype"))
	}
	if _, err := threecx.ParseProfile("started=pickup"); err == nil {
		t.Error("unknown profile option accepted")
	}
}
