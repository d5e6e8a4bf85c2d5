package delivery_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
)

func TestSendSuccess(t *testing.T) {
	type seen struct {
		method, path, auth, ua, tenant, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("X-Tenant"), string(b)}
		w.Header().Set("X-Receiver", "crm")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "thanks")
	}))
	defer srv.Close()

	s := delivery.NewSender()
	h := http.Header{}
	h.Set("Authorization", delivery.BasicAuth("user", "pa:ss"))
	h.Set("X-Tenant", "acme")
	res := s.Send(context.Background(), delivery.Request{
		ID: "w1", Receiver: "crm", CallKey: "c1",
		URL: srv.URL + "/hook?x=1", Header: h, Body: []byte(`{"event_type":"call_init"}`),
	})
	if res.Err != nil || !res.OK() || res.Status != 202 || res.Attempts != 1 || res.Latency <= 0 {
		t.Fatalf("result = %+v", res)
	}
	if string(res.Body) != "thanks" || res.Header.Get("X-Receiver") != "crm" || res.Request.ID != "w1" {
		t.Errorf("response body %q header %v request %+v", res.Body, res.Header, res.Request)
	}
	g := <-got
	want := seen{"POST", "/hook?x=1", "Basic dXNlcjpwYTpzcw==", delivery.DefaultUserAgent, "acme", `{"event_type":"call_init"}`}
	if g != want {
		t.Errorf("receiver saw %+v, want %+v", g, want)
	}

	res = s.Send(context.Background(), delivery.Request{Method: "GET", URL: srv.URL + "/?event=ringing"})
	if res.Err != nil {
		t.Fatalf("GET: %v", res.Err)
	}
	if g := <-got; g.method != "GET" || g.path != "/?event=ringing" || g.body != "" {
		t.Errorf("GET seen as %+v", g)
	}
}

func TestSendStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:topsecret@", 1) + "/hook"
	res := delivery.NewSender().Send(context.Background(), delivery.Request{URL: u, Body: []byte("{}")})
	want := "send POST " + srv.URL + "/hook: receiver answered 500 Internal Server Error"
	if res.Err == nil || res.Err.Error() != want {
		t.Fatalf("Err = %v, want %q", res.Err, want)
	}
	if res.Status != 500 || !errors.Is(res.Err, delivery.ErrStatus) || errors.Is(res.Err, delivery.ErrTimeout) {
		t.Errorf("status %d, Is(ErrStatus)=%v", res.Status, errors.Is(res.Err, delivery.ErrStatus))
	}
	var se *delivery.SendError
	if !errors.As(res.Err, &se) || se.Status != 500 || strings.Contains(se.URL, "topsecret") {
		t.Errorf("SendError = %+v", se)
	}
	if strings.TrimSpace(string(res.Body)) != "boom" {
		t.Errorf("body %q", res.Body)
	}
}

func TestSendRedirectIsNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	res := delivery.NewSender().Send(context.Background(), delivery.Request{URL: srv.URL})
	if res.Status != http.StatusFound || !errors.Is(res.Err, delivery.ErrStatus) {
		t.Errorf("result = %+v", res)
	}
}

// freeAddr returns a 127.0.0.1 address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSendConnectionRefused(t *testing.T) {
	u := "http://admin:pw@" + freeAddr(t) + "/hook"
	res := delivery.NewSender().Send(context.Background(), delivery.Request{URL: u})
	if res.Err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	msg := res.Err.Error()
	wantPrefix := "send POST " + strings.Replace(u, "admin:pw@", "", 1) + ": "
	if !strings.HasPrefix(msg, wantPrefix) || !strings.Contains(msg, "connection refused") || strings.Contains(msg, "pw") {
		t.Errorf("error %q, want prefix %q and connection refused", msg, wantPrefix)
	}
	if res.Status != 0 || errors.Is(res.Err, delivery.ErrStatus) || !delivery.Retryable(res) {
		t.Errorf("status %d, retryable %v", res.Status, delivery.Retryable(res))
	}
}

func TestSendTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; released when the client gives up
	}))
	defer srv.Close()

	s := delivery.NewSender(delivery.WithSenderTimeout(5 * time.Second))
	start := time.Now()
	res := s.Send(context.Background(), delivery.Request{URL: srv.URL, Timeout: 100 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("request timeout not applied: took %v", elapsed)
	}
	if !errors.Is(res.Err, delivery.ErrTimeout) || !strings.Contains(res.Err.Error(), "no answer within 100ms") {
		t.Fatalf("Err = %v, want a timeout", res.Err)
	}
	if !delivery.Retryable(res) {
		t.Error("a timeout should be retryable")
	}

	s = delivery.NewSender(delivery.WithSenderTimeout(100 * time.Millisecond))
	res = s.Send(context.Background(), delivery.Request{URL: srv.URL})
	if !errors.Is(res.Err, delivery.ErrTimeout) {
		t.Fatalf("sender timeout: Err = %v", res.Err)
	}
}

func TestSendCanceled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := delivery.NewSender().Send(ctx, delivery.Request{URL: srv.URL})
	if !errors.Is(res.Err, context.Canceled) || delivery.Retryable(res) {
		t.Errorf("Err = %v, retryable %v", res.Err, delivery.Retryable(res))
	}
}

func TestSendBadRequest(t *testing.T) {
	res := delivery.NewSender().Send(context.Background(), delivery.Request{Method: "BAD METHOD", URL: "http://127.0.0.1:1/"})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "send BAD METHOD http://127.0.0.1:1/") {
		t.Errorf("Err = %v", res.Err)
	}
}
