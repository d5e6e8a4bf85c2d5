package check_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/dialect/threecx"
)

// Every status event the dialect renders passes the status rules, carries no
// call id, and is skipped by the chain rule; broken ones fail.
func TestStatusEvents(t *testing.T) {
	c, err := check.NewThreeCX()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Status) != 7 {
		t.Fatalf("%d status events in the rules, the document lists 7", len(c.Status))
	}
	u, _ := url.Parse("http://127.0.0.1:9000/hook")
	d := threecx.New("crm", u, threecx.WithLocation(time.UTC))
	at := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	var reqs []check.Request
	for _, ev := range []callmodel.Event{
		{Kind: callmodel.ForwardingChanged, User: "102", Forwarding: true, Destination: "12125550199"},
		{Kind: callmodel.QueueLoginChanged, User: "101"},
		{Kind: callmodel.QueueMemberLoginChanged, User: "103", Queue: "800", LoggedIn: true},
		{Kind: callmodel.ExtensionCreated, User: "105", UserName: "Erin 105"},
		{Kind: callmodel.ExtensionDeleted, User: "105"},
		{Kind: callmodel.AgentAdded, User: "103", Queue: "800"},
		{Kind: callmodel.AgentRemoved, User: "103", Queue: "800"},
	} {
		ev.Time = at
		r, ok := d.Render(ev)
		if !ok {
			t.Fatalf("%v not rendered", ev.Kind)
		}
		cr := req(t, r.URL)
		if !c.IsStatus(cr) {
			t.Errorf("%s not recognised as a status event", cr)
		}
		for name, f := range map[string]func(check.Request) error{"transport": c.Transport, "fields": c.Fields, "values": c.Values, "id": c.ID} {
			if err := f(cr); err != nil {
				t.Errorf("%s rule: %v", name, err)
			}
		}
		reqs = append(reqs, cr)
	}
	call := req(t, "http://x/?event=ringing&callerid=1&user=101&usertype=queue&did=3&id=211230100614_331-0")
	if err := c.Chain(append([]check.Request{call}, reqs...)); err != nil {
		t.Errorf("chain rule counts status events: %v", err)
	}
	for _, bad := range []struct {
		f   func(check.Request) error
		url string
	}{
		{c.Values, "http://x/?event=queueloginchanged&user=101&status=paused"},
		{c.Fields, "http://x/?event=agentadded&user=103"},
		{c.ID, "http://x/?event=agentadded&user=103&queue=800&id=211230100614_331-0"},
	} {
		if bad.f(req(t, bad.url)) == nil {
			t.Errorf("%s passed", bad.url)
		}
	}
}
