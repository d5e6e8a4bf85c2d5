package callcontrol

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
)

// syncBuffer is a log sink safe for the connector's goroutines.
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

// A PBX that sends what is not 3CX's: a message that is not JSON, an
// entity path of no known kind, an event type of no known name, a
// participant whose GET is not JSON. Each is skipped with a warning that
// names it; the session goes on and the barrier after them arrives.
func TestMalformedInput(t *testing.T) {
	messages := []string{
		`not json at all`,
		`{"sequence":1,"event":{"event_type":0,"entity":"/xapi/v1/Users","attached_data":null}}`,
		`{"sequence":2,"event":{"event_type":"Sideways","entity":"/callcontrol/101/participants/6"}}`,
		`{"sequence":3,"event":{"event_type":0,"entity":"/callcontrol/101/participants/7","attached_data":null}}`,
		`{"sequence":4}`,
		`{"sequence":5,"event":{"event_type":4,"entity":"/callcontrol/ws","attached_data":{"RequestID":"callhook-sync:7","StatusCode":200}}}`,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"token_type":"Bearer","expires_in":3600,"access_token":"t0k"}`))
	})
	mux.HandleFunc("GET /callcontrol", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"dn":"101","type":"Wextension","devices":[],"participants":[]}]`))
	})
	mux.HandleFunc("GET /callcontrol/101/participants/7", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id": "seven", "dn": 101`))
	})
	mux.HandleFunc("GET /callcontrol/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0k" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, m := range messages {
			if err := wsutil.WriteServerText(conn, []byte(m)); err != nil {
				return
			}
		}
		// Hold the socket open until the client goes.
		for {
			if _, _, err := wsutil.ReadClientData(conn); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var logs syncBuffer
	c, err := New(Config{URL: srv.URL, ClientID: "900", ClientSecret: "k", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []signal.Signal
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, signal.HandlerFunc(func(_ context.Context, s signal.Signal) error {
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
			return nil
		}))
	}()
	waitfor.Condition(t, 30*time.Second, "the barrier after the malformed messages", func() string {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range got {
			if s.Kind == signal.Sync && s.Token == "7" {
				return ""
			}
		}
		return "not yet"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, s := range got {
		kinds = append(kinds, s.Kind.String())
	}
	if strings.Join(kinds, " ") != "Connected Sync" {
		t.Errorf("signals %v, want Connected then the barrier", kinds)
	}
	for _, want := range []string{"not json at all", "/xapi/v1/Users", "Sideways", "participants/7", "XAPI not available"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning names %q; logs:\n%s", want, logs.String())
		}
	}
}

// The token endpoint answering what is not a token: an error naming the
// endpoint, wrapping ErrMalformed.
func TestTokenMalformed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<html>login</html>`))
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, ClientID: "900", ClientSecret: "k"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.cl.accessToken(t.Context())
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/connect/token") || !strings.Contains(err.Error(), ErrMalformed.Error()) {
		t.Errorf("accessToken = %v, want a malformed-answer error naming %s/connect/token", err, srv.URL)
	}
}

// A PBX that goes silent (pings unanswered, nothing sent) costs the
// session within two keep-alive periods; the connector reports it and
// connects again.
func TestSilentPBX(t *testing.T) {
	var mu sync.Mutex
	opened := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token_type":"Bearer","expires_in":3600,"access_token":"t0k"}`))
	})
	mux.HandleFunc("GET /callcontrol", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[]`)) })
	mux.HandleFunc("GET /callcontrol/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		mu.Lock()
		opened++
		mu.Unlock()
		// Never read, never answer a ping.
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, ClientID: "900", ClientSecret: "k", NoXAPI: true, KeepAlive: 100 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var got []signal.Signal
	var gmu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, signal.HandlerFunc(func(_ context.Context, s signal.Signal) error {
			gmu.Lock()
			got = append(got, s)
			gmu.Unlock()
			return nil
		}))
	}()
	waitfor.Condition(t, 30*time.Second, "a Disconnected after silence, then a second session", func() string {
		gmu.Lock()
		defer gmu.Unlock()
		var kinds []string
		for _, s := range got {
			kinds = append(kinds, s.Kind.String())
		}
		if strings.HasPrefix(strings.Join(kinds, " "), "Connected Disconnected Connected") {
			return ""
		}
		return "signals so far: " + strings.Join(kinds, " ")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	gmu.Lock()
	defer gmu.Unlock()
	if d := got[1]; d.Err == nil || !strings.Contains(d.Err.Error(), "read event stream") {
		t.Errorf("Disconnected says %v, want the silent read", d.Err)
	}
}
