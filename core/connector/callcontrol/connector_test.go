package callcontrol_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/connector/callcontrol"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/scenarios"
)

// recorder runs a connector and keeps what it reports.
type recorder struct {
	mu   sync.Mutex
	sigs []signal.Signal
	done chan error
}

func run(t *testing.T, c *callcontrol.Connector) *recorder {
	t.Helper()
	r := &recorder{done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		r.done <- c.Run(ctx, signal.HandlerFunc(func(_ context.Context, s signal.Signal) error {
			r.mu.Lock()
			r.sigs = append(r.sigs, s)
			r.mu.Unlock()
			return nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func (r *recorder) signals() []signal.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signal.Signal(nil), r.sigs...)
}

func (r *recorder) has(f func(signal.Signal) bool) bool {
	for _, s := range r.signals() {
		if f(s) {
			return true
		}
	}
	return false
}

func (r *recorder) wait(t *testing.T, what string, f func(signal.Signal) bool) {
	t.Helper()
	waitfor.Condition(t, 30*time.Second, what, func() string {
		if r.has(f) {
			return ""
		}
		return fmt.Sprintf("%d signals so far", len(r.signals()))
	})
}

// A secret the PBX refuses stops Run with ErrAuth, naming the client and
// the token endpoint.
func TestTokenRefused(t *testing.T) {
	s := startSim(t, 10)
	cc := s.ThreeCX()
	c, err := callcontrol.New(callcontrol.Config{URL: cc.URL(), ClientID: cc.ClientID(), ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(t.Context(), signal.HandlerFunc(func(context.Context, signal.Signal) error { return nil }))
	if !errors.Is(err, callcontrol.ErrAuth) {
		t.Fatalf("Run = %v, want ErrAuth", err)
	}
	for _, want := range []string{`client "` + cc.ClientID() + `"`, "/connect/token", "invalid_client"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the secret", err)
	}
}

// Tokens that lapse mid-session are replaced: the connector goes on
// reporting calls.
func TestTokenExpires(t *testing.T) {
	s := startSim(t, 10)
	r := run(t, newConnector(t, s))
	r.wait(t, "Connected", func(x signal.Signal) bool { return x.Kind == signal.Connected })
	s.ThreeCX().ExpireTokens()
	sc, err := scenarios.Load("inbound-answered")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the barrier after the call", func(x signal.Signal) bool { return x.Kind == signal.Sync && x.Token == tok })
	var kinds []string
	for _, x := range r.signals() {
		if x.Kind == signal.LegAnswered || x.Kind == signal.LegGone {
			kinds = append(kinds, x.Kind.String()+" "+x.Leg.Endpoint)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("after the token lapsed: %v, want both legs answered and gone", kinds)
	}
	if r.has(func(x signal.Signal) bool { return x.Kind == signal.Disconnected }) {
		t.Error("a lapsed token cost the session")
	}
}

// Originate places the call with MakeCall: the extension's device calls
// out, and the call is reported as any other.
func TestOriginate(t *testing.T) {
	s := startSim(t, 10)
	c := newConnector(t, s)
	var _ connector.Originator = c
	r := run(t, c)
	r.wait(t, "Connected", func(x signal.Signal) bool { return x.Kind == signal.Connected })
	st, err := c.Originate(t.Context(), connector.Origination{From: "101", To: "912125550199", RingTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Message, "MakeCall succeeded") || !strings.Contains(st.Message, "at 101") {
		t.Errorf("Started %q", st.Message)
	}
	r.wait(t, "101 dialling out", func(x signal.Signal) bool {
		return x.Kind == signal.Dialling && x.Leg.Endpoint == "101" && x.Number == "12125550199"
	})
	if err := s.PBX().WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Originate(t.Context(), connector.Origination{From: "12125550199", FromIsNumber: true, To: "101"}); !errors.Is(err, callcontrol.ErrUnsupported) {
		t.Errorf("Originate from a number: %v, want ErrUnsupported", err)
	}
	if _, err := c.Originate(t.Context(), connector.Origination{From: "999", To: "101"}); err == nil || !strings.Contains(err.Error(), "999") {
		t.Errorf("Originate from an unknown DN: %v, want an error naming it", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := callcontrol.New(callcontrol.Config{URL: "pbx.example.com"})
	if !errors.Is(err, callcontrol.ErrConfig) {
		t.Fatalf("New = %v, want ErrConfig", err)
	}
	for _, want := range []string{"URL", "ClientID", "ClientSecret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
