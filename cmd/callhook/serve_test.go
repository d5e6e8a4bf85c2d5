package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// callhook serve, run from the SPEC's minimal .ini pointed at the
// simulator's AMI port, delivers the scenario webhooks to a receiver.
func TestServeAgainstSimulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := sim.Start(ctx, sim.Config{Speed: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{}
	srv := &http.Server{Handler: rc}
	go srv.Serve(ln)
	defer srv.Close()

	ini := fmt.Sprintf(`[pbx]
type     = ami                 ; ami | pbxsim | 3cx | esl (as connectors land)
address  = %s
username = %s
secret   = %s

[webhook.crm]
url     = http://%s/hook
dialect = 3cx                  ; 3cx | bulutfon | voipex
`, s.AMIAddr(), s.AMIUser(), s.AMISecret(), ln.Addr())
	path := filepath.Join(t.TempDir(), "callhook.ini")
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, binary, "serve", "--config", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	// Wait for the engine to log in before placing calls.
	lines := bufio.NewScanner(stderr)
	connected := false
	for lines.Scan() {
		if strings.Contains(lines.Text(), "connected to PBX") {
			connected = true
			break
		}
	}
	if !connected {
		t.Fatal("callhook serve never connected to the simulator")
	}
	go func() {
		for lines.Scan() {
			t.Log(lines.Text())
		}
	}()
	for _, n := range []string{"inbound-answered", "inbound-missed"} {
		sc, err := scenarios.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Play(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for ctx.Err() == nil {
		rc.mu.Lock()
		got = got[:0]
		for _, u := range rc.reqs {
			q := u.Query()
			got = append(got, q.Get("event")+"/"+q.Get("finishtype"))
		}
		n := len(got)
		rc.mu.Unlock()
		if n >= 5 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	want := "ringing/ hangupincoming/ incoming/Ok ringing/ incoming/Missed"
	if strings.Join(got, " ") != want {
		t.Errorf("receiver got %v, want %s", got, want)
	}
}
