package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// callhook serve, run from the README's [pbx] type = 3cx section pointed
// at the simulator's 3CX front-end, delivers a call's webhooks.
func TestServeAgainstSimulator3CX(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := sim.Start(ctx, sim.Config{Speed: 10, ThreeCXAddr: "127.0.0.1:0"})
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
	cc := s.ThreeCX()
	ini := fmt.Sprintf(`[pbx]
type          = 3cx
url           = %s
client_id     = %s
client_secret = %s

[webhook.crm]
url           = http://%s/hook
dialect       = 3cx
allow_private = yes
`, cc.URL(), cc.ClientID(), cc.ClientSecret(), ln.Addr())
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
	lines := bufio.NewScanner(stderr)
	connected := false
	for lines.Scan() {
		if strings.Contains(lines.Text(), "connected to PBX") {
			connected = true
			break
		}
	}
	if !connected {
		t.Fatal("callhook serve never connected to the simulator's 3CX API")
	}
	go func() {
		for lines.Scan() {
			t.Log(lines.Text())
		}
	}()
	sc, err := scenarios.Load("inbound-answered")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, sc); err != nil {
		t.Fatal(err)
	}
	events := func() []string {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		var got []string
		for _, u := range rc.reqs {
			got = append(got, u.Query().Get("event"))
		}
		return got
	}
	waitfor.Condition(t, time.Minute, "the call's three webhooks", func() string {
		if got := events(); len(got) < 3 {
			return fmt.Sprintf("got %v", got)
		}
		return ""
	})
	if got := strings.Join(events(), " "); got != "ringing hangupincoming incoming" {
		t.Errorf("receiver got %s", got)
	}
}

var threeCXLine = regexp.MustCompile(`msg="simulator serving" .* 3cx=(http://\S+) 3cx_client_id=(\S+)`)

// sim serve --3cx serves 3CX's token endpoint and Call Control API.
func TestSimServe3CX(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "serve", "--sip", "127.0.0.1:0", "--ami", "127.0.0.1:0", "--3cx", "127.0.0.1:0",
			"--control", "off"}, io.Discard, &stderr)
	}()
	var base string
	waitfor.Condition(t, 10*time.Second, "the ready line naming the 3CX address", func() string {
		if m := threeCXLine.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			return ""
		}
		return "no ready line yet: " + stderr.String()
	})
	res, err := http.PostForm(base+"/connect/token", map[string][]string{"client_id": {"900"}, "client_secret": {"secret"},
		"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"access_token"`) {
		t.Errorf("token: %d %s", res.StatusCode, b)
	}
	res, err = http.Get(base + "/callcontrol")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/callcontrol without a token: %d, want 401", res.StatusCode)
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
