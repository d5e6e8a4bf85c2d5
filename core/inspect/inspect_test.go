package inspect_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/inspect"
	"github.com/callhook/callhook/core/signal"
)

// ringing is a call's first moments as the engine hands them to its
// stages: the signal and the event the model made of it.
func ringing(n int) (signal.Signal, []callmodel.Event) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	leg := signal.Leg{ID: fmt.Sprintf("1795482057.%d", n), Call: fmt.Sprintf("1795482057.%d", n), Endpoint: "trunk", CallerNum: "2125559876"}
	s := signal.Signal{Kind: signal.LegAlerting, Time: start, Leg: leg}
	ev := callmodel.Event{Kind: callmodel.Ringing, Time: start, ID: callmodel.CallID{Start: start, Number: n}, PBXCallID: leg.Call,
		Direction: callmodel.Inbound, External: "2125559876", DID: "2125550100", User: "101", UserType: callmodel.UserExtension}
	return s, []callmodel.Event{ev}
}

func get(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// A page following the calls hears of each change over server-sent
// events; the call then shows its signal, event and webhook, the
// webhook's credentials hidden and its broken rule at its field.
func TestLiveUpdatesAndDetail(t *testing.T) {
	in := inspect.New(inspect.Options{Receivers: map[string]inspect.Receiver{"crm": {Dialect: "3cx"}}})
	srv := httptest.NewServer(in)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	next := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		t.Fatalf("event stream ended before %q: %v", prefix, lines.Err())
		return ""
	}
	next("event: hello")
	changed := func() string { next("event: call"); return next("data: ") }

	s, evs := ringing(7)
	in.Process(s, evs, nil)
	key := evs[0].ID.Chain()
	var sum struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(changed()), &sum); err != nil || sum.Key != key {
		t.Fatalf("first change: %+v %v, want call %s", sum, err, key)
	}
	url := "http://127.0.0.1:1/crm?event=ringing&callerid=2125559876&did=2125550100&user=101&usertype=extn&id=261124100000_7-0"
	req := delivery.Request{ID: "crm-" + key + "-ringing-0-0", Receiver: "crm", CallKey: key, Method: "GET", URL: url,
		Header: http.Header{"Authorization": {"Basic dTpw"}}}
	in.Attempt(delivery.Attempt{ID: req.ID, Receiver: "crm", CallKey: key, N: 1, Time: time.Now(), Status: 503,
		Err: "receiver answered 503", Request: req, Body: []byte("busy")})
	in.Result(delivery.Result{Request: req, Status: 503, Err: &delivery.SendError{Status: 503}, Attempts: 1})
	if err := json.Unmarshal([]byte(changed()), &sum); err != nil || sum.Key != key {
		t.Fatalf("webhook change: %+v %v", sum, err)
	}

	var d struct {
		Title    string   `json:"title"`
		CallID   string   `json:"call_id"`
		PBXCalls []string `json:"pbx_calls"`
		Signals  []struct{ Kind, Leg string }
		Events   []struct{ Kind string }
		Webhooks []struct {
			State  string              `json:"state"`
			Header map[string][]string `json:"header"`
			Fields []struct {
				Name, Value string
				Fail        bool
			}
			Failures []struct {
				Field   string `json:"field"`
				DocLine int    `json:"doc_line"`
			} `json:"failures"`
			Attempts []struct {
				Status int    `json:"status"`
				Body   string `json:"response_body"`
			} `json:"attempts"`
		} `json:"webhooks"`
	}
	get(t, srv.URL+"/api/calls/"+key, &d)
	if d.Title != "2125559876 → 2125550100" || d.CallID != "261124100000_7-0" || len(d.PBXCalls) != 1 ||
		len(d.Signals) != 1 || d.Signals[0].Kind != "LegAlerting" || len(d.Events) != 1 || d.Events[0].Kind != "ringing" {
		t.Errorf("call %+v", d)
	}
	if len(d.Webhooks) != 1 {
		t.Fatalf("webhooks %+v", d.Webhooks)
	}
	w := d.Webhooks[0]
	if w.State != "dead" || len(w.Attempts) != 1 || w.Attempts[0].Status != 503 || w.Attempts[0].Body != "busy" {
		t.Errorf("webhook %+v", w)
	}
	if got := w.Header["Authorization"]; len(got) != 1 || got[0] != "Basic (redacted)" {
		t.Errorf("Authorization shown as %q", got)
	}
	if len(w.Failures) != 1 || w.Failures[0].Field != "usertype" || w.Failures[0].DocLine != 33 {
		t.Errorf("failures %+v, want usertype's, quoting the document's line 33", w.Failures)
	}
	for _, f := range w.Fields {
		if f.Fail != (f.Name == "usertype") {
			t.Errorf("field %s highlighted %v", f.Name, f.Fail)
		}
	}
}

// The inspector keeps the last MaxCalls calls, and forgets their webhooks
// with them.
func TestKeepsLastCalls(t *testing.T) {
	in := inspect.New(inspect.Options{MaxCalls: 2})
	srv := httptest.NewServer(in)
	defer srv.Close()
	for n := range 3 {
		s, evs := ringing(n)
		in.Process(s, evs, nil)
	}
	var calls []struct{ Key string }
	get(t, srv.URL+"/api/calls", &calls)
	if len(calls) != 2 || !strings.HasSuffix(calls[0].Key, "_2") || !strings.HasSuffix(calls[1].Key, "_1") {
		t.Errorf("calls %+v, want the last two, newest first", calls)
	}
	_, evs := ringing(0)
	resp, err := http.Get(srv.URL + "/api/calls/" + evs[0].ID.Chain())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("dropped call: %d, want 404", resp.StatusCode)
	}
}
