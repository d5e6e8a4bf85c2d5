package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

// TestSignerStandardWebhooksVector reproduces the signature published with
// the Standard Webhooks specification's reference libraries
// (github.com/standard-webhooks/standard-webhooks, libraries/go/webhook_test.go
// and the specification's "Signature scheme" section): a receiver using any
// of those libraries accepts what callhook sends.
func TestSignerStandardWebhooksVector(t *testing.T) {
	s, err := delivery.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Signature("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	h := http.Header{}
	s.Sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), "/hook", []byte(`{"test": 2432232314}`))
	if err := s.Verify(h, "/hook", []byte(`{"test": 2432232314}`), time.Unix(1614265330+60, 0), 5*time.Minute); err != nil {
		t.Fatalf("verify own signature: %v", err)
	}
	if err := s.Verify(h, "/hook", []byte(`{"test": 1}`), time.Unix(1614265330, 0), 5*time.Minute); err == nil {
		t.Fatal("verify accepted a changed body")
	}
	if err := s.Verify(h, "/hook", []byte(`{"test": 2432232314}`), time.Unix(1614265330+3600, 0), 5*time.Minute); err == nil {
		t.Fatal("verify accepted a stale timestamp")
	}
	for _, bad := range []string{"whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := delivery.NewSigner(bad); !errors.Is(err, delivery.ErrSecret) {
			t.Errorf("NewSigner(%q) = %v, want ErrSecret", bad, err)
		}
	}
	if strings.Contains(s.String(), "MfKQ") {
		t.Error("String shows the key")
	}
}

func TestForbiddenAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private", "192.168.1.1": "private",
		"172.16.0.1": "private", "169.254.169.254": "link-local", "fe80::1": "link-local",
		"0.0.0.0": "unspecified", "100.64.0.1": "shared (carrier-grade NAT)", "fd00::1": "private",
		"8.8.8.8": "", "2606:4700::1111": "", "::ffff:127.0.0.1": "loopback",
	} {
		if got := delivery.ForbiddenAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("ForbiddenAddr(%s) = %q, want %q", addr, got, want)
		}
	}
}

// TestGuardRefusesLoopback: a receiver on 127.0.0.1 is refused at dial time
// unless its policy allows private addresses, and the error names the key.
func TestGuardRefusesLoopback(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	send := func(allow bool) delivery.Result {
		rs := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), map[string]delivery.Policy{
			"crm": {AllowPrivate: allow, Retry: delivery.RetryPolicy{Attempts: 1}},
		})
		return rs.Send(context.Background(), delivery.Request{ID: "w1", Receiver: "crm", URL: srv.URL})
	}
	res := send(false)
	if !errors.Is(res.Err, delivery.ErrForbiddenAddress) || !strings.Contains(res.Err.Error(), "allow_private = true") {
		t.Fatalf("err = %v, want ErrForbiddenAddress naming allow_private", res.Err)
	}
	if hits.Load() != 0 {
		t.Fatal("the receiver was reached")
	}
	if res := send(true); !res.OK() {
		t.Fatalf("allowed receiver: %v", res.Err)
	}
	if err := delivery.CheckHost(context.Background(), "localhost"); !errors.Is(err, delivery.ErrForbiddenAddress) {
		t.Fatalf("CheckHost(localhost) = %v", err)
	}
}

// TestReceiversSignAndAuth: every attempt carries the webhook id, a fresh
// Standard Webhooks signature and basic auth; the id is the same on retries.
func TestReceiversSignAndAuth(t *testing.T) {
	signer, _ := delivery.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	var n atomic.Int32
	ids := make(chan string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		if err := signer.Verify(r.Header, r.RequestURI, body, time.Now(), time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			t.Errorf("basic auth = %q %q %v", u, p, ok)
		}
		ids <- r.Header.Get("webhook-id")
		w.Header().Set("X-Attempt", strconv.Itoa(int(n.Load())+1))
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("busy"))
			return
		}
		_, _ = w.Write([]byte("taken"))
	}))
	defer srv.Close()
	var attempts []delivery.Attempt
	rs := delivery.NewReceivers(delivery.NewSender(), map[string]delivery.Policy{"crm": {
		AllowPrivate: true, Signer: signer, Username: "u", Password: "p",
		Retry: delivery.RetryPolicy{Attempts: 5, Min: time.Millisecond, Max: 2 * time.Millisecond},
	}}, delivery.WithReceiversAttempt(func(a delivery.Attempt) { attempts = append(attempts, a) }))
	res := rs.Send(context.Background(), delivery.Request{ID: "hook-1", Receiver: "crm", URL: srv.URL, Body: []byte(`{"a":1}`)})
	if !res.OK() || res.Attempts != 3 {
		t.Fatalf("result %v after %d attempts", res.Err, res.Attempts)
	}
	for range 3 {
		if id := <-ids; id != "hook-1" {
			t.Fatalf("webhook-id = %q", id)
		}
	}
	if len(attempts) != 3 || attempts[0].Status != 503 || attempts[2].Status != 200 {
		t.Fatalf("attempt log = %+v", attempts)
	}
	// Observers see each attempt as it went out and how it was answered.
	for i, a := range attempts {
		want := map[bool]string{true: "taken", false: "busy"}[i == 2]
		if string(a.Body) != want || a.Header.Get("X-Attempt") != strconv.Itoa(i+1) {
			t.Errorf("attempt %d: answer %q, X-Attempt %q; want %q, %d", i+1, a.Body, a.Header.Get("X-Attempt"), want, i+1)
		}
		if a.Request.ID != "hook-1" || a.Request.Header.Get("webhook-id") != "hook-1" || a.Request.Header.Get("webhook-signature") == "" {
			t.Errorf("attempt %d: request as sent %+v, want its webhook-id and signature", i+1, a.Request.Header)
		}
	}
}

// TestReceivers410Disables: a 410 disables the receiver (no retry, later
// requests refused without a connection) while another receiver goes on.
func TestReceivers410Disables(t *testing.T) {
	var goneHits, okHits atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goneHits.Add(1)
		w.WriteHeader(http.StatusGone)
	}))
	defer gone.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { okHits.Add(1) }))
	defer ok.Close()
	var disabled []string
	retry := delivery.RetryPolicy{Attempts: 4, Min: time.Millisecond, Max: time.Millisecond}
	rs := delivery.NewReceivers(delivery.NewSender(), map[string]delivery.Policy{
		"gone": {AllowPrivate: true, Retry: retry}, "ok": {AllowPrivate: true, Retry: retry},
	}, delivery.WithReceiversDisable(func(name, _ string) { disabled = append(disabled, name) }))
	ctx := context.Background()
	if res := rs.Send(ctx, delivery.Request{ID: "a", Receiver: "gone", URL: gone.URL}); res.Status != 410 || res.Attempts != 1 {
		t.Fatalf("first: status %d after %d attempts", res.Status, res.Attempts)
	}
	if res := rs.Send(ctx, delivery.Request{ID: "b", Receiver: "gone", URL: gone.URL}); !errors.Is(res.Err, delivery.ErrDisabled) {
		t.Fatalf("second: %v, want ErrDisabled", res.Err)
	}
	if goneHits.Load() != 1 || len(disabled) != 1 || rs.Disabled("gone") == "" {
		t.Fatalf("hits %d, disabled %v", goneHits.Load(), disabled)
	}
	if res := rs.Send(ctx, delivery.Request{ID: "c", Receiver: "ok", URL: ok.URL}); !res.OK() {
		t.Fatalf("other receiver: %v", res.Err)
	}
	rs.Enable("gone")
	if rs.Disabled("gone") != "" {
		t.Fatal("still disabled after Enable")
	}
}

// TestReceiversBreakerFailsFast: once a receiver failed Failures times in a
// row, attempts fail at once without a connection until the cool-down.
func TestReceiversBreakerFailsFast(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	rs := delivery.NewReceivers(delivery.NewSender(), map[string]delivery.Policy{
		"dead": {AllowPrivate: true, Retry: delivery.RetryPolicy{Attempts: 3, Min: time.Millisecond, Max: time.Millisecond}},
	}, delivery.WithReceiversBreaker(delivery.Breaker{Failures: 3, Cooldown: time.Hour}))
	ctx := context.Background()
	rs.Send(ctx, delivery.Request{ID: "1", Receiver: "dead", URL: srv.URL})
	res := rs.Send(ctx, delivery.Request{ID: "2", Receiver: "dead", URL: srv.URL})
	if !errors.Is(res.Err, delivery.ErrCircuitOpen) || hits.Load() != 3 {
		t.Fatalf("err %v, hits %d: want circuit open after 3 hits", res.Err, hits.Load())
	}
}

// A webhook sent once the cooldown is over is the half-open probe: when
// the receiver is back it goes out, and the circuit closes.
func TestReceiversBreakerProbeCloses(t *testing.T) {
	var up atomic.Bool
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rs := delivery.NewReceivers(delivery.NewSender(), map[string]delivery.Policy{
		"crm": {AllowPrivate: true, Retry: delivery.RetryPolicy{Attempts: 3, Min: time.Millisecond, Max: time.Millisecond}},
	}, delivery.WithReceiversBreaker(delivery.Breaker{Failures: 3, Cooldown: time.Minute}), delivery.WithReceiversClock(clock))
	ctx := context.Background()
	if res := rs.Send(ctx, delivery.Request{ID: "1", Receiver: "crm", URL: srv.URL}); res.OK() || hits.Load() != 3 {
		t.Fatalf("first webhook: %v after %d hits, want a failure after 3", res.Err, hits.Load())
	}
	up.Store(true)
	mu.Lock()
	now = now.Add(2 * time.Minute) // past the cooldown
	mu.Unlock()
	if res := rs.Send(ctx, delivery.Request{ID: "2", Receiver: "crm", URL: srv.URL}); !res.OK() {
		t.Fatalf("webhook after the cooldown: %v (hits %d), want it delivered as the probe", res.Err, hits.Load())
	}
	if res := rs.Send(ctx, delivery.Request{ID: "3", Receiver: "crm", URL: srv.URL}); !res.OK() || res.Attempts != 1 {
		t.Fatalf("webhook after the probe: %v in %d attempts, want it delivered at once (circuit closed)", res.Err, res.Attempts)
	}
}
