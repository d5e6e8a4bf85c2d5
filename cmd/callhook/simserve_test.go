package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/waitfor"
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

var eslAddr = regexp.MustCompile(`msg="simulator serving" .* esl=(\S+)`)

// With --esl the simulator also serves FreeSWITCH's event socket: a client
// authenticates with the password and asks for the calls in progress.
func TestSimServeESL(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "serve", "--sip", "127.0.0.1:0", "--ami", "127.0.0.1:0", "--control", "off",
			"--esl", "127.0.0.1:0", "--esl-password", "pw"}, io.Discard, &stderr)
	}()
	var addr string
	err := waitfor.Until(10*time.Second, "the ready line naming the event socket", func() string {
		if m := eslAddr.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			return ""
		}
		select {
		case err := <-done:
			return fmt.Sprintf("sim serve stopped: %v", err)
		default:
		}
		return "no ready line yet: " + stderr.String()
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	frame := func() string {
		t.Helper()
		var b strings.Builder
		n := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (so far %q)", err, b.String())
			}
			if line == "\n" {
				break
			}
			b.WriteString(line)
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		return b.String() + string(body)
	}
	if f := frame(); !strings.Contains(f, "Content-Type: auth/request") {
		t.Fatalf("greeting %q", f)
	}
	fmt.Fprint(conn, "auth pw\n\n")
	if f := frame(); !strings.Contains(f, "Reply-Text: +OK accepted") {
		t.Fatalf("auth reply %q", f)
	}
	fmt.Fprint(conn, "api show calls as json\n\n")
	if f := frame(); !strings.Contains(f, "Content-Type: api/response") || !strings.Contains(f, `{"row_count": 0}`) {
		t.Fatalf("show calls %q", f)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sim serve returned %v after cancel", err)
	}
}
