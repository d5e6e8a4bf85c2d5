package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of one sample line of /metrics, -1 when absent.
func metric(body, sample string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// /healthz answers while the process runs, /readyz only once the PBX is
// connected and the outbox takes writes (503 with reasons otherwise),
// both without the admin token; /metrics counts the PBX side: the
// connection, signals and call events by kind, calls in progress and
// reconnects.
func TestHealthAndPBXMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := sim.Start(ctx, sim.Config{Speed: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recv := webhooktest.NewServer()
	defer recv.Close()
	u, _ := url.Parse(recv.URL() + "/hook")
	cfg := &config.Config{
		File:     "callhook.ini",
		PBX:      config.NewPBX("ami", map[string]string{"address": s.AMIAddr(), "username": s.AMIUser(), "secret": s.AMISecret()}),
		Delivery: config.Delivery{Memory: true, AdminListen: "127.0.0.1:0", AdminToken: "0123456789abcdef-admin"},
		Webhooks: []config.Webhook{{Name: "crm", URL: u, Dialect: "3cx", AllowPrivate: true, Timeout: time.Second}},
	}
	svc, err := service.New(cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	admin := "http://" + svc.AdminAddr()

	if code, body := get(t, admin+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, admin+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "PBX "+s.AMIAddr()+" (not connected yet)") ||
		!strings.Contains(body, `"writable": true`) {
		t.Errorf("/readyz before the engine runs: %d %s", code, body)
	}

	done := make(chan error, 1)
	rctx, stop := context.WithCancel(ctx)
	go func() { done <- svc.Run(rctx) }()
	defer func() { stop(); <-done }()
	<-svc.Connected()
	var rd service.Readiness
	waitfor.Condition(t, 10*time.Second, "/readyz 200", func() string {
		code, body := get(t, admin+"/readyz")
		if code == http.StatusOK && json.Unmarshal([]byte(body), &rd) == nil && rd.Ready {
			return ""
		}
		return strconv.Itoa(code) + " " + body
	})

	sc, err := scenarios.Load("inbound-answered")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, sc); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.WaitSync(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, m := get(t, admin+"/metrics")
	for sample, want := range map[string]float64{
		"callhook_pbx_connected":                            1,
		"callhook_pbx_reconnects_total":                     0,
		"callhook_calls_in_progress":                        0,
		`callhook_pbx_signals_total{kind="Connected"}`:      1,
		`callhook_pbx_signals_total{kind="Sync"}`:           1,
		`callhook_call_events_total{kind="answered"}`:       1,
		`callhook_webhooks_delivered_total{receiver="crm"}`: 3,
	} {
		if got := metric(m, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if metric(m, `callhook_pbx_signals_total{kind="LegAppeared"}`) < 2 {
		t.Errorf("LegAppeared signals not counted:\n%s", m)
	}

	// A call in progress is counted while it lasts.
	long, err := scenarios.Load("inbound-missed")
	if err != nil {
		t.Fatal(err)
	}
	played := make(chan error, 1)
	go func() { played <- s.Play(ctx, long) }()
	waitfor.Condition(t, 10*time.Second, "a call in progress on /metrics", func() string {
		_, m := get(t, admin+"/metrics")
		if metric(m, "callhook_calls_in_progress") >= 1 {
			return ""
		}
		return "callhook_calls_in_progress " + strconv.FormatFloat(metric(m, "callhook_calls_in_progress"), 'g', -1, 64)
	})
	if err := <-played; err != nil {
		t.Fatal(err)
	}

	// A dropped manager session is counted as a reconnect once back.
	s.DropAMI()
	waitfor.Condition(t, 20*time.Second, "the reconnect on /metrics and /readyz ready again", func() string {
		_, m := get(t, admin+"/metrics")
		code, body := get(t, admin+"/readyz")
		if metric(m, "callhook_pbx_reconnects_total") == 1 && metric(m, "callhook_pbx_connected") == 1 && code == http.StatusOK {
			return ""
		}
		return "reconnects " + strconv.FormatFloat(metric(m, "callhook_pbx_reconnects_total"), 'g', -1, 64) + ", /readyz " + body
	})

	// An outbox that cannot take writes makes the engine unready.
	svc.Outbox.Close()
	if rd := svc.Ready(ctx); rd.Ready || rd.Outbox.Writable || len(rd.Reasons) != 1 || !strings.Contains(rd.Reasons[0], "outbox") {
		t.Errorf("with the outbox closed: %+v", rd)
	}
}
