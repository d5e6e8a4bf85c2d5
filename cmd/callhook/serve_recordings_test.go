package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/sim"
)

// callhook serve with a [recordings] section starts the HTTPS download
// server (self-signed here: no cert_file), which refuses an unsigned link
// with 403, and stops it with the process.
func TestServeStartsRecordingDownloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := sim.Start(ctx, sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	ini := fmt.Sprintf(`[pbx]
type     = ami
address  = %s
username = %s
secret   = %s

[webhook.crm]
url           = http://127.0.0.1:9/hook
dialect       = 3cx
allow_private = true

[delivery]
memory = yes

[recordings]
folder   = rec
listen   = 127.0.0.1:0
link_key = 0123456789abcdef0123
`, s.AMIAddr(), s.AMIUser(), s.AMISecret())
	path := filepath.Join(dir, "callhook.ini")
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
	lines := bufio.NewScanner(stderr)
	addrRe := regexp.MustCompile(`recording downloads listening" addr=(\S+)`)
	var addr string
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if m := addrRe.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("callhook serve never logged its recording downloads:\n%s", strings.Join(seen, "\n"))
	}
	go func() {
		for lines.Scan() {
		}
	}()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + addr + "/webapi/recording/261124010057_0-1-1.mp3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned link: %d, want 403", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "rec")); err != nil {
		t.Errorf("recordings folder not made beside the config: %v", err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil && !strings.Contains(err.Error(), "exit status") {
		t.Errorf("serve after interrupt: %v", err)
	}
	if _, err := c.Get("https://" + addr + "/"); err == nil {
		t.Error("download server still answers after serve stopped")
	}
}
