package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// The admin listener serves the inspector at /inspect/ behind the admin
// token (a bearer token, or the cookie /inspect/?token= sets), showing
// the calls of the PBX the engine follows: here pbxsim over AMI, as a
// real Asterisk would be, so with no SIP ladder.
func TestInspectorOnAdminListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := sim.Start(ctx, sim.Config{Speed: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recv := webhooktest.NewServer()
	defer recv.Close()
	u, _ := url.Parse(recv.URL() + "/hook")
	const tok = "0123456789abcdef-admin"
	cfg := &config.Config{
		File:     "test.ini",
		PBX:      config.NewPBX("ami", map[string]string{"address": s.AMIAddr(), "username": s.AMIUser(), "secret": s.AMISecret()}),
		Delivery: config.Delivery{Memory: true, AdminListen: "127.0.0.1:0", AdminToken: tok},
		Webhooks: []config.Webhook{{Name: "crm", URL: u, Dialect: "3cx", AllowPrivate: true, Timeout: 5 * time.Second}},
	}
	cfg.PBX.Timezone = time.UTC
	svc, err := service.New(cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ectx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ectx) }()
	defer func() { stop(); <-done }()
	select {
	case <-svc.Connected():
	case err := <-done:
		t.Fatalf("engine stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("engine did not connect to the simulator")
	}
	sc, err := scenarios.Load("inbound-answered")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, sc); err != nil {
		t.Fatal(err)
	}
	token, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.WaitSync(ctx, token); err != nil {
		t.Fatal(err)
	}

	base := "http://" + svc.AdminAddr() + "/inspect/"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url string, h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, c := range []struct {
		what string
		url  string
		h    http.Header
	}{
		{"no token", base, nil},
		{"a wrong token", base + "?token=wrong", nil},
		{"a wrong bearer token", base + "api/calls", http.Header{"Authorization": {"Bearer wrong"}}},
	} {
		if r := get(c.url, c.h); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", c.what, r.StatusCode)
		}
	}
	// The token in the URL becomes a cookie for /inspect/, and the page
	// is shown without it in the URL.
	r := get(base+"?token="+tok+"&call=x", nil)
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "callhook_admin" {
			cookie = c
		}
	}
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/inspect/?call=x" || cookie == nil || !cookie.HttpOnly || cookie.Path != "/inspect/" {
		t.Fatalf("token login: %d, Location %q, cookie %+v", r.StatusCode, r.Header.Get("Location"), cookie)
	}
	withCookie := http.Header{"Cookie": {cookie.String()}}
	if r := get(base, withCookie); r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page with the cookie: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}

	var calls []struct {
		Key      string `json:"key"`
		CallID   string `json:"call_id"`
		Webhooks int    `json:"webhooks"`
		Failures int    `json:"failures"`
	}
	r = get(base+"api/calls", http.Header{"Authorization": {"Bearer " + tok}})
	if err := json.NewDecoder(r.Body).Decode(&calls); err != nil || len(calls) != 1 {
		t.Fatalf("calls: %v %+v", err, calls)
	}
	if c := calls[0]; c.Webhooks != 3 || c.Failures != 0 || !strings.HasSuffix(c.CallID, "-1") {
		t.Errorf("call %+v, want its 3 webhooks (ringing, hangupincoming, incoming) keeping the rules", c)
	}
	var d struct {
		Signals  []struct{ Kind string } `json:"signals"`
		Events   []struct{ Kind string } `json:"events"`
		SIP      any                     `json:"sip"`
		Webhooks []struct {
			State    string `json:"state"`
			Attempts []struct {
				Status int `json:"status"`
			} `json:"attempts"`
		} `json:"webhooks"`
	}
	r = get(base+"api/calls/"+calls[0].Key, withCookie)
	if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if len(d.Signals) == 0 || len(d.Events) == 0 || d.SIP != nil || len(d.Webhooks) != 3 {
		t.Errorf("detail: %d signals, %d events, sip %v, %d webhooks", len(d.Signals), len(d.Events), d.SIP, len(d.Webhooks))
	}
	for _, w := range d.Webhooks {
		if w.State != "delivered" || len(w.Attempts) != 1 || w.Attempts[0].Status != 200 {
			t.Errorf("webhook %+v, want delivered at the first attempt", w)
		}
	}
	// The live updates stream, for the page.
	r = get(base+"api/events", withCookie)
	if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %d %s", r.StatusCode, ct)
	}
	line, err := bufio.NewReader(r.Body).ReadString('\n')
	if err != nil || line != "retry: 1000\n" {
		t.Errorf("events start %q, %v", line, err)
	}
}
