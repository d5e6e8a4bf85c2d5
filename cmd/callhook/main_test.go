package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "callhook-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "callhook")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build callhook: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func callhook(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run callhook %v: %v", args, err)
	}
	return o.String(), e.String(), 0
}

func TestSimList(t *testing.T) {
	out, _, code := callhook(t, t.Context(), "sim", "list")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"inbound-answered", "inbound-missed"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("sim list lacks %s:\n%s", want, out)
		}
	}
}

// receiver is a plain HTTP server standing in for a CRM's receiver: it
// knows nothing of callhook.
type receiver struct {
	mu   sync.Mutex
	reqs []*url.URL
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, r.URL)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func TestSimRunDeliversToReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{}
	srv := &http.Server{Handler: rc}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, errOut, code := callhook(t, ctx, "sim", "run", "inbound-answered", "inbound-missed",
		"--dialect", "3cx", "--target", "http://"+ln.Addr().String()+"/hook", "--speed", "10")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var events []string
	for _, u := range rc.reqs {
		q := u.Query()
		ev := q.Get("event")
		if ev == "incoming" {
			ev += "/" + q.Get("finishtype")
		}
		events = append(events, ev+"@"+q.Get("id")[strings.LastIndexByte(q.Get("id"), '-')+1:])
	}
	// 3CX document: ringing at link 0, call started at link 1, ended at
	// link 1 with finishtype Ok; a missed call ends at link 0 as Missed.
	want := "ringing@0 hangupincoming@1 incoming/Ok@1 ringing@0 incoming/Missed@0"
	if got := strings.Join(events, " "); got != want {
		t.Errorf("receiver got %s\nwant %s\nstdout:\n%s", got, want, out)
	}
	if !strings.Contains(out, "5 delivered, 0 failed") {
		t.Errorf("summary missing from output:\n%s", out)
	}
}

func TestSimRunWithoutReceiverFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, errOut, code := callhook(t, ctx, "sim", "run", "inbound-missed", "--dialect", "3cx",
		"--target", "http://"+addr+"/hook", "--speed", "20")
	if code == 0 {
		t.Fatalf("exit 0 with no receiver listening\n%s", out)
	}
	if !strings.Contains(errOut, "not delivered") || !strings.Contains(errOut+out, "connection refused") {
		t.Errorf("error does not say the receiver was unreachable:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestServeBadConfig(t *testing.T) {
	tests := []struct {
		name, ini, want string
	}{
		{"unknown dialect", "[pbx]\ntype = ami\naddress = 127.0.0.1:5038\nusername = a\nsecret = b\n\n[webhook.crm]\nurl = http://127.0.0.1:9000/hook\ndialect = 3cxx\n",
			"bad.ini:9: [webhook.crm] dialect"},
		{"missing url", "[pbx]\ntype = ami\naddress = 127.0.0.1:5038\nusername = a\nsecret = b\n\n[webhook.crm]\ndialect = 3cx\n",
			"bad.ini:7: [webhook.crm] url"},
		{"bad address", "[pbx]\ntype = ami\naddress = localhost\nusername = a\nsecret = b\n\n[webhook.crm]\nurl = http://127.0.0.1:9000/hook\ndialect = 3cx\n",
			"bad.ini:3: [pbx] address"},
		{"unknown key", "[pbx]\ntype = ami\naddress = 127.0.0.1:5038\nusername = a\nsecret = b\ncolour = blue\n\n[webhook.crm]\nurl = http://127.0.0.1:9000/hook\ndialect = 3cx\n",
			"bad.ini:6: [pbx] colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.ini")
			if err := os.WriteFile(path, []byte(tt.ini), 0o600); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := callhook(t, t.Context(), "serve", "--config", path)
			if code == 0 {
				t.Fatal("exit 0 for a bad config")
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr does not name %q:\n%s", tt.want, errOut)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"sim", "run", "inbound-answered"}, {"sim", "run", "no-such", "--dialect", "3cx", "--target", "http://127.0.0.1:1/"}} {
		_, errOut, code := callhook(t, t.Context(), args...)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if errOut == "" {
			t.Errorf("%v: nothing on stderr", args)
		}
	}
}
