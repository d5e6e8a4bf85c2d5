package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/waitfor"
)

// callhook deliveries list/show/replay/enable against a running service's
// admin API: webhooks dead-lettered by a failing receiver are listed,
// found by the call id their receiver saw, shown as a timeline, and
// delivered by a replay, one by id and the rest in bulk by status, once
// the receiver recovers; /metrics counts them; the API refuses a wrong
// token.
func TestDeliveriesCommand(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		got.Add(1)
	}))
	defer rcv.Close()
	u, _ := url.Parse(rcv.URL + "/hook")
	const tok = "0123456789abcdef-admin"
	cfg := &config.Config{
		File: "test.ini",
		PBX:  config.NewPBX("ami", map[string]string{"address": "127.0.0.1:1", "username": "a", "secret": "b"}),
		Delivery: config.Delivery{Memory: true, AdminListen: "127.0.0.1:0", AdminToken: tok,
			Retry: config.Retry{Attempts: 2, Min: time.Millisecond, Max: 2 * time.Millisecond}},
		Webhooks: []config.Webhook{{Name: "crm", URL: u, Dialect: "3cx", AllowPrivate: true, Timeout: time.Second}},
	}
	svc, err := service.New(cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Two calls' webhooks, each carrying the id its receiver sees: a 3CX
	// call id in the query, a Bulutfon uuid in the body.
	const threecxID, uuid = "261124010057_0-1", "8922e73e-b00f-5ef2-a03e-763f699b1b83"
	for _, r := range []delivery.Request{
		{ID: "crm-call1-0", Receiver: "crm", CallKey: "1795482057_0", Method: "GET", URL: rcv.URL + "/hook?event=ringing&id=" + threecxID},
		{ID: "crm-call2-0", Receiver: "crm", CallKey: "1795482099_1", URL: rcv.URL + "/hook", Body: []byte(`{"uuid":"` + uuid + `"}`),
			Header: http.Header{"Content-Type": {"application/json"}}},
	} {
		if err := svc.Outbox.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	admin := "http://" + svc.AdminAddr()
	cli := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(ctx, append([]string{"deliveries"}, append(args, "--admin", admin, "--token", tok)...), &out, &errb); err != nil {
			t.Fatalf("callhook deliveries %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	var list string
	waitfor.Condition(t, 20*time.Second, "both webhooks listed dead after their retries", func() string {
		if list = cli("list", "--status", "dead", "--receiver", "crm"); strings.Contains(list, "crm-call1-0") && strings.Contains(list, "crm-call2-0") {
			return ""
		}
		return "list says:\n" + list
	})
	// A call is found by the id its receiver saw and by its key; an id no
	// webhook carried finds nothing.
	for ref, want := range map[string]string{threecxID: "crm-call1-0", "261124010057_0-2": "", uuid: "crm-call2-0", "1795482099_1": "crm-call2-0"} {
		got := cli("list", "--call", ref)
		if want != "" && (!strings.Contains(got, want) || strings.Count(got, "\n") != 2) {
			t.Errorf("list --call %s:\n%s\nwant only %s", ref, got, want)
		}
		if want == "" && strings.Count(got, "\n") != 1 {
			t.Errorf("list --call %s found something:\n%s", ref, got)
		}
	}
	var recs []map[string]any
	if err := json.Unmarshal([]byte(cli("show", "crm-call1-0", "--json")), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("show --json: %d records, %v", len(recs), err)
	}
	show := cli("show", "crm-call2-0")
	for _, want := range []string{"webhook   crm-call2-0", "call      1795482099_1", "status    dead after 2 attempt(s)",
		"TIME", "attempt  1        500", "dead     2        500", "POST " + rcv.URL + "/hook", "Content-Type: application/json", `{"uuid":"`} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	failing.Store(false)
	cli("replay", "crm-call1-0")
	if err := svc.Outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 1 {
		t.Fatalf("after replay the receiver got %d", got.Load())
	}
	// Bulk: the dead letters of the last hour; call1 was delivered by
	// its replay, so only call2 is sent again.
	if out := cli("replay", "--status", "dead", "--since", "1h"); !strings.Contains(out, "crm-call2-0\n1 webhook(s) queued again") {
		t.Errorf("replay --status dead: %s", out)
	}
	if err := svc.Outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 2 {
		t.Fatalf("after the bulk replay the receiver got %d, want 2", got.Load())
	}
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"deliveries", "replay", "--admin", admin, "--token", tok}, &out, &errb); err == nil || !strings.Contains(err.Error(), "filter flags") {
		t.Errorf("replay without ID or filter: %v", err)
	}
	if out := cli("enable", "crm"); !strings.Contains(out, "enabled") {
		t.Fatalf("enable: %s", out)
	}
	// A wrong token is refused.
	if err := run(ctx, []string{"deliveries", "list", "--admin", admin, "--token", "wrong"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m bytes.Buffer
	_, _ = m.ReadFrom(resp.Body)
	for _, want := range []string{`callhook_webhooks_dead_total{receiver="crm"} 2`, `callhook_webhooks_delivered_total{receiver="crm"} 2`,
		`callhook_delivery_attempts_total{outcome="5xx",receiver="crm"} 4`, "callhook_outbox_pending 0", "callhook_delivery_attempt_seconds_bucket"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
