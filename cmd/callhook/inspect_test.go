package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// callhook inspect prints the inspector's URL, plays the scenario into
// it, and serves it on until interrupted: the call is there with its SIP
// ladder and every dialect's webhooks, delivered and checked.
func TestInspectCommand(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), binary, "inspect", "inbound-answered", "--addr", "127.0.0.1:0", "--speed", "20")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	// The URL comes first; once the scenario is played, it is printed
	// again with how to stop.
	var base string
	re := regexp.MustCompile(`^Inspector: (http://\S+/)`)
	deadline := time.After(2 * time.Minute)
	for played := false; !played; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("callhook inspect ended before it had played the scenario: %v", <-exited)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				played = base != ""
				base = m[1]
			}
		case <-deadline:
			t.Fatalf("the scenario not played within 2 minutes (inspector URL %q)", base)
		}
	}
	go func() {
		for range lines {
		}
	}()

	type call struct {
		Key      string `json:"key"`
		Webhooks int    `json:"webhooks"`
		Failures int    `json:"failures"`
		Pending  int    `json:"pending"`
	}
	var calls []call
	fetch := func(path string, v any) string {
		resp, err := http.Get(base + path)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			return err.Error()
		}
		return ""
	}
	// The webhooks of inbound-answered for each of the three dialects'
	// receivers (3CX alone sends three), all delivered: the command says
	// it played the scenario once every webhook was.
	if s := fetch("api/calls", &calls); s != "" {
		t.Fatal(s)
	}
	if len(calls) != 1 || calls[0].Webhooks < 9 || calls[0].Pending > 0 {
		t.Fatalf("calls %+v, want the one call with its webhooks delivered", calls)
	}
	if calls[0].Failures != 0 {
		t.Errorf("%d of the product's own webhooks shown breaking vendor rules", calls[0].Failures)
	}
	var d struct {
		SIP struct {
			Parties []string `json:"parties"`
			Lines   []struct{ Message string }
		} `json:"sip"`
		Webhooks []struct{ Dialect string }
	}
	if s := fetch("api/calls/"+calls[0].Key, &d); s != "" {
		t.Fatal(s)
	}
	dialects := map[string]bool{}
	for _, w := range d.Webhooks {
		dialects[w.Dialect] = true
	}
	if len(d.SIP.Lines) < 10 || !strings.Contains(strings.Join(d.SIP.Parties, " "), "PBX 101") || len(dialects) != 3 {
		t.Errorf("call: ladder %v with %d lines, dialects %v", d.SIP.Parties, len(d.SIP.Lines), dialects)
	}

	// Ctrl-C stops it.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("callhook inspect still running 30 s after Ctrl-C")
	}
}
