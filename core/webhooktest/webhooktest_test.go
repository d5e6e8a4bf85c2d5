package webhooktest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/webhooktest"
)

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCaptures(t *testing.T) {
	s := webhooktest.NewServer()
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
	before := time.Now()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/3cx?event=ringing&callerid=%2B905321234567", nil)
	req.Header.Set("X-Test", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	if code := post(t, s.URL()+"/hook", `{"EventName":"NewCall"}`); code != 200 {
		t.Errorf("status %d, want 200", code)
	}

	got := s.Requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	g := got[0]
	if g.Method != "GET" || g.Path != "/3cx" || g.Query.Get("event") != "ringing" || g.Query.Get("callerid") != "+905321234567" ||
		g.RawQuery != "event=ringing&callerid=%2B905321234567" ||
		g.Header.Get("X-Test") != "yes" || g.Time.Before(before) || g.Status != 200 {
		t.Errorf("first = %+v", g)
	}
	p := got[1]
	if p.Method != "POST" || p.Path != "/hook" || string(p.Body) != `{"EventName":"NewCall"}` || p.Header.Get("Content-Type") != "application/json" {
		t.Errorf("second = %+v", p)
	}
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("after Reset: %d requests", n)
	}
}

func TestStatus(t *testing.T) {
	s := webhooktest.NewServer()
	defer s.Close()
	s.SetStatus(http.StatusServiceUnavailable)
	if code := post(t, s.URL(), "a"); code != 503 {
		t.Errorf("status %d, want 503", code)
	}
	s.SetStatus(http.StatusNoContent)
	s.SetStatusSequence(500, 429)
	var codes []int
	for range 4 {
		codes = append(codes, post(t, s.URL(), "b"))
	}
	if want := []int{500, 429, 204, 204}; !equal(codes, want) {
		t.Errorf("statuses %v, want %v", codes, want)
	}
	if reqs := s.Requests(); reqs[1].Status != 500 || reqs[4].Status != 204 {
		t.Errorf("captured statuses wrong: %+v", reqs)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWait(t *testing.T) {
	s := webhooktest.NewServer()
	defer s.Close()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { post(t, s.URL(), "x") })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := s.Wait(ctx, 5)
	if err != nil || len(got) != 5 {
		t.Fatalf("Wait = %d, %v", len(got), err)
	}
	wg.Wait()

	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	got, err = s.Wait(short, 6)
	if !errors.Is(err, context.DeadlineExceeded) || len(got) != 5 {
		t.Fatalf("Wait(6) = %d, %v; want 5 and deadline exceeded", len(got), err)
	}
	if !strings.Contains(err.Error(), "got 5") {
		t.Errorf("error %q does not say how many arrived", err)
	}
}

func TestWaitClosed(t *testing.T) {
	s := webhooktest.NewServer()
	done := make(chan error, 1)
	go func() {
		_, err := s.Wait(context.Background(), 1)
		done <- err
	}()
	s.Close()
	s.Close() // idempotent
	select {
	case err := <-done:
		if !errors.Is(err, webhooktest.ErrClosed) {
			t.Errorf("Wait after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	if _, err := http.Post(s.URL(), "text/plain", strings.NewReader("x")); err == nil {
		t.Error("POST after Close succeeded")
	}
}
