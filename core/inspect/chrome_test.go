package inspect_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// A headless Chromium driven over the DevTools protocol: enough of it
// to open a page, run script in it and take a screenshot. Playwright's
// and puppeteer's browser downloads need the internet; Debian's chromium
// package does not.

// chromePath is the browser the test drives: $CALLHOOK_CHROMIUM, else
// chromium on PATH (Debian's chromium package, `make deps` installs it).
func chromePath() string {
	if p := os.Getenv("CALLHOOK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// needChrome skips the test without a browser, unless
// CALLHOOK_REQUIRE_BROWSER says a missing browser is a failure (make
// test, CI).
func needChrome(t *testing.T) string {
	t.Helper()
	p := chromePath()
	if p != "" {
		return p
	}
	if os.Getenv("CALLHOOK_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium not found (install Debian's chromium package: make deps) and CALLHOOK_REQUIRE_BROWSER is set")
	}
	t.Skip("chromium not found: install Debian's chromium package (make deps) to run the browser test")
	return ""
}

// chrome is a running headless browser with one page.
type chrome struct {
	t    *testing.T
	cmd  *exec.Cmd
	ws   *websocket.Conn
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
	// logs holds the page's console messages and uncaught exceptions.
	logs []string
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChrome starts the browser with a fresh profile and attaches to its
// first page; the browser is stopped when the test ends.
func startChrome(t *testing.T, path string) *chrome {
	t.Helper()
	cmd := exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps", "--disable-breakpad",
		"--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-default-browser-check",
		"--metrics-recording-only", "--safebrowsing-disable-auto-update",
		// The page is on 127.0.0.1; no other name resolves, so the
		// browser reaches nothing but this machine.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=*", "--window-size=1400,2000",
		"--user-data-dir="+t.TempDir(), "about:blank")
	// Its own process group, so the test stops the browser's helper
	// processes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	c := &chrome{t: t, cmd: cmd, wait: map[int]chan cdpReply{}}
	t.Cleanup(c.stop)

	// Chromium says where its DevTools endpoint is on stderr.
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var browserWS string
	select {
	case browserWS = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not announce its DevTools endpoint within 60 s")
	}
	host := strings.TrimPrefix(browserWS, "ws://")
	host, _, _ = strings.Cut(host, "/")
	c.ws = c.dialPage(host)
	go c.read()
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		c.call(m, nil, nil)
	}
	return c
}

// dialPage connects to the browser's page target.
func (c *chrome) dialPage(host string) *websocket.Conn {
	c.t.Helper()
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		c.t.Fatalf("list DevTools targets: %v", err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		c.t.Fatalf("list DevTools targets: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			ws, err := websocket.Dial(tg.WS, "", "http://127.0.0.1/")
			if err != nil {
				c.t.Fatalf("attach to page %s: %v", tg.WS, err)
			}
			ws.MaxPayloadBytes = 64 << 20
			return ws
		}
	}
	c.t.Fatalf("no page among the browser's targets %+v", targets)
	return nil
}

// read dispatches replies to their calls and keeps console output.
func (c *chrome) read() {
	for {
		var msg struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if err := websocket.JSON.Receive(c.ws, &msg); err != nil {
			c.mu.Lock()
			for id, ch := range c.wait {
				close(ch)
				delete(c.wait, id)
			}
			c.mu.Unlock()
			return
		}
		switch msg.Method {
		case "Runtime.consoleAPICalled", "Runtime.exceptionThrown":
			c.mu.Lock()
			c.logs = append(c.logs, msg.Method+" "+string(msg.Params))
			c.mu.Unlock()
		}
		if msg.ID == 0 {
			continue
		}
		c.mu.Lock()
		ch := c.wait[msg.ID]
		delete(c.wait, msg.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- msg.cdpReply
		}
	}
}

// call sends one DevTools command and decodes its result into out.
func (c *chrome) call(method string, params, out any) {
	c.t.Helper()
	if err := c.try(method, params, out); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chrome) try(method string, params, out any) error {
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan cdpReply, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return fmt.Errorf("devtools %s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("devtools %s: connection closed", method)
		}
		if r.Error != nil {
			return fmt.Errorf("devtools %s: %s", method, r.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				return fmt.Errorf("devtools %s: result: %w", method, err)
			}
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("devtools %s: no reply within 60 s", method)
	}
}

// navigate opens url in the page.
func (c *chrome) navigate(url string) {
	c.t.Helper()
	var r struct {
		ErrorText string `json:"errorText"`
	}
	c.call("Page.navigate", map[string]any{"url": url}, &r)
	if r.ErrorText != "" {
		c.t.Fatalf("navigate to %s: %s", url, r.ErrorText)
	}
}

// eval runs a JavaScript expression in the page and decodes its value
// (which must be JSON-serialisable) into out.
func (c *chrome) eval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := c.try("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("script: %s %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	return json.Unmarshal(r.Result.Value, out)
}

// screenshot saves the whole page as a PNG.
func (c *chrome) screenshot(path string) {
	c.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	c.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r)
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// console is what the page logged.
func (c *chrome) console() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.logs...)
}

// stop ends the browser and its helper processes (its process group).
func (c *chrome) stop() {
	if c.ws != nil {
		_ = c.ws.Close()
	}
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	}
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		c.t.Logf("chromium (pid %d) did not exit within 10 s of SIGKILL", c.cmd.Process.Pid)
	}
}
