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
// admin API: a webhook dead-lettered by a failing receiver is listed,
// shown with its attempts, and delivered by a replay once the receiver
// recovers; /metrics counts it; the API refuses a wrong token.
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
	if err := svc.Outbox.Enqueue(ctx, delivery.Request{ID: "crm-call1-0", Receiver: "crm", CallKey: "call1", Method: "GET", URL: rcv.URL + "/hook?x=1"}); err != nil {
		t.Fatal(err)
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
	waitfor.Condition(t, 20*time.Second, "the webhook listed dead after its retries", func() string {
		if list = cli("list", "--status", "dead", "--receiver", "crm"); strings.Contains(list, "crm-call1-0") {
			return ""
		}
		return "list says:\n" + list
	})
	if !strings.Contains(list, "crm-call1-0") || !strings.Contains(list, "dead") {
		t.Fatalf("list:\n%s", list)
	}
	var recs []map[string]any
	if err := json.Unmarshal([]byte(cli("show", "crm-call1-0")), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("show: %d records, %v", len(recs), err)
	}
	failing.Store(false)
	cli("replay", "crm-call1-0")
	if err := svc.Outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 1 {
		t.Fatalf("after replay the receiver got %d", got.Load())
	}
	if out := cli("enable", "crm"); !strings.Contains(out, "enabled") {
		t.Fatalf("enable: %s", out)
	}
	// A wrong token is refused.
	var out, errb bytes.Buffer
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
	for _, want := range []string{`callhook_webhooks_dead_total{receiver="crm"} 1`, `callhook_webhooks_delivered_total{receiver="crm"} 1`,
		`callhook_delivery_attempts_total{outcome="5xx",receiver="crm"} 2`, "callhook_outbox_pending 0", "callhook_delivery_attempt_seconds_bucket"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
