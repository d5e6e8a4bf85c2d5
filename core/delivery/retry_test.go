package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/webhooktest"
)

var fast = delivery.RetryPolicy{Attempts: 4, Min: time.Millisecond, Max: 10 * time.Millisecond}

func TestSendWithRetryRecovers(t *testing.T) {
	rcv := webhooktest.NewServer()
	defer rcv.Close()
	rcv.SetStatusSequence(500, 502)

	h := http.Header{"Webhook-Id": {"w-42"}}
	res := delivery.NewSender().SendWithRetry(context.Background(),
		delivery.Request{ID: "w-42", URL: rcv.URL() + "/hook", Header: h, Body: []byte("payload")}, fast)
	if res.Err != nil || res.Status != 200 || res.Attempts != 3 {
		t.Fatalf("result = %+v", res)
	}
	got := rcv.Requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	for i, c := range got {
		if string(c.Body) != "payload" || c.Header.Get("Webhook-Id") != "w-42" {
			t.Errorf("attempt %d: body %q id %q, want the same request every time", i+1, c.Body, c.Header.Get("Webhook-Id"))
		}
	}
}

func TestSendWithRetryGivesUp(t *testing.T) {
	rcv := webhooktest.NewServer()
	defer rcv.Close()
	rcv.SetStatus(http.StatusServiceUnavailable)
	res := delivery.NewSender().SendWithRetry(context.Background(), delivery.Request{URL: rcv.URL()}, fast)
	if res.Attempts != 4 || res.Status != 503 || !errors.Is(res.Err, delivery.ErrStatus) {
		t.Fatalf("result = %+v", res)
	}
	if n := len(rcv.Requests()); n != 4 {
		t.Errorf("receiver got %d requests, want 4", n)
	}
}

func TestSendWithRetryStopsOnClientError(t *testing.T) {
	rcv := webhooktest.NewServer()
	defer rcv.Close()
	rcv.SetStatus(http.StatusBadRequest)
	res := delivery.NewSender().SendWithRetry(context.Background(), delivery.Request{URL: rcv.URL()}, fast)
	if res.Attempts != 1 || res.Status != 400 {
		t.Fatalf("result = %+v, want one attempt", res)
	}
}

func TestSendWithRetryConnectionRefused(t *testing.T) {
	res := delivery.NewSender().SendWithRetry(context.Background(), delivery.Request{URL: "http://" + freeAddr(t)}, fast)
	if res.Attempts != 4 || res.Err == nil {
		t.Fatalf("result = %+v", res)
	}
}

func TestSendWithRetryHonoursRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	p := delivery.RetryPolicy{Attempts: 3, Min: time.Millisecond, Max: 5 * time.Second}
	start := time.Now()
	res := delivery.NewSender().SendWithRetry(context.Background(), delivery.Request{URL: srv.URL}, p)
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("result = %+v", res)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("retried after %v, receiver asked for 1s", elapsed)
	}
}

func TestSendWithRetryCapsRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	start := time.Now()
	res := delivery.NewSender().SendWithRetry(context.Background(), delivery.Request{URL: srv.URL}, fast)
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("result = %+v", res)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("waited %v; Retry-After must be capped at the policy's Max", elapsed)
	}
}

func TestSendWithRetryStopsWithContext(t *testing.T) {
	rcv := webhooktest.NewServer()
	defer rcv.Close()
	rcv.SetStatus(500)
	ctx, cancel := context.WithCancel(context.Background())
	p := delivery.RetryPolicy{Attempts: 10, Min: time.Hour, Max: time.Hour}
	done := make(chan delivery.Result, 1)
	go func() { done <- delivery.NewSender().SendWithRetry(ctx, delivery.Request{URL: rcv.URL()}, p) }()
	if _, err := rcv.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case res := <-done:
		// Canceled either while waiting to retry (status 500) or while the
		// first answer was still on its way: one attempt either way.
		if res.Attempts != 1 || res.Err == nil {
			t.Errorf("result = %+v", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SendWithRetry ignored the canceled context")
	}
}

func TestBackoff(t *testing.T) {
	p := delivery.RetryPolicy{Attempts: 10, Min: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(tt.n)
			if d < tt.min || d > tt.max {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", tt.n, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Backoff(%d) has no jitter", tt.n)
		}
	}
	if d := (delivery.RetryPolicy{}).Backoff(1); d <= 0 || d > delivery.DefaultRetryPolicy.Min {
		t.Errorf("zero policy Backoff(1) = %v", d)
	}
}

func TestRetryable(t *testing.T) {
	someErr := &delivery.SendError{Method: "POST", URL: "http://x", Err: errors.New("connection reset")}
	statusErr := func(code int) delivery.Result {
		return delivery.Result{Status: code, Err: &delivery.SendError{Method: "POST", URL: "http://x", Status: code}}
	}
	tests := []struct {
		name string
		res  delivery.Result
		want bool
	}{
		{"success", delivery.Result{Status: 200}, false},
		{"network", delivery.Result{Err: someErr}, true},
		{"canceled", delivery.Result{Err: &delivery.SendError{Err: context.Canceled}}, false},
		{"408", statusErr(408), true},
		{"429", statusErr(429), true},
		{"500", statusErr(500), true},
		{"503", statusErr(503), true},
		{"400", statusErr(400), false},
		{"401", statusErr(401), false},
		{"404", statusErr(404), false},
		{"302", statusErr(302), false},
	}
	for _, tt := range tests {
		if got := delivery.Retryable(tt.res); got != tt.want {
			t.Errorf("%s: Retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
