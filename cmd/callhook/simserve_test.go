package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var controlAddr = regexp.MustCompile(`msg="simulator serving" sip=\S+ ami=\S+ control=(\S+)`)

func TestSimServeControlAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "serve", "--sip", "127.0.0.1:0", "--ami", "127.0.0.1:0",
			"--control", "127.0.0.1:0", "--speed", "20"}, io.Discard, &stderr)
	}()
	var ctl string
	deadline := time.Now().Add(10 * time.Second)
	for ctl == "" {
		if m := controlAddr.FindStringSubmatch(stderr.String()); m != nil {
			ctl = "http://" + m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("sim serve stopped: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready line within 10s:\n%s", stderr.String())
		}
	}

	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, ctl+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("GET", "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, body := get("GET", "/scenarios"); code != 200 || !strings.Contains(body, "inbound-answered\n") {
		t.Errorf("scenarios: %d %q", code, body)
	}
	if code, _ := get("POST", "/play/no-such-scenario"); code != http.StatusNotFound {
		t.Errorf("unknown scenario: %d, want 404", code)
	}
	code, body := get("POST", "/play/inbound-answered")
	if code != 200 || !strings.Contains(body, `"scenario":"inbound-answered"`) || !strings.Contains(body, `"sync":"1"`) {
		t.Errorf("play: %d %s", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sim serve returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim serve did not stop within 10s of cancel")
	}
}

func TestSimServeRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--every", "1m"},
		{"--play", "no-such-scenario"},
		{"--transport", "sctp"},
		{"extra"},
	} {
		err := run(t.Context(), append([]string{"sim", "serve"}, args...), io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
