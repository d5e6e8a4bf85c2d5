package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/webhooktest"
)

// A user's own scenario files, as docs/scenarios.md describes them.
const (
	answeredYAML = `name: my-answered-call
summary: an outside caller reaches 101, who answers and talks for 4 s
phones:
  "101": {answer_after: 500ms}
steps:
  - call: {id: c1, from: "2125559876", name: John Smith, to: "2125550100"}
  - wait: {call: c1, for: answered, within: 10s}
  - pause: 4s
  - hangup: c1
  - wait: {call: c1, for: ended}
`
	cancelledYAML = `name: my-cancelled-call
summary: the caller gives up while 101 rings
phones:
  "101": {}
steps:
  - call: {id: c1, from: "2125559876", name: John Smith, to: "2125550100"}
  - wait: {call: c1, for: ringing, within: 10s}
  - pause: 1s
  - hangup: c1
  - wait: {call: c1, for: ended}
`
)

// The "done when": sim run of a user's YAML files with --config
// delivers, to real receivers, signed 3cx requests (with the recording
// POST [recordings] asks for) and basic-auth, form-encoded bulutfon
// POSTs carrying the .ini's domain and account, with --set's caller; the
// JUnit report lists each scenario.
func TestSimRunFilesWithConfig(t *testing.T) {
	threecx := webhooktest.NewServer()
	defer threecx.Close()
	bulutfon := webhooktest.NewServer()
	defer bulutfon.Close()
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)

	dir := t.TempDir()
	ini := fmt.Sprintf(`; no [pbx]: the simulator is the PBX
[webhook.crm]
url            = %s/3cx
dialect        = 3cx
signing_secret = %s

[webhook.sales]
url        = %s/bulutfon
dialect    = bulutfon
format     = form
username   = crm
password   = s3cret
pbx_number = 2125550100
domain_id  = 1234
account_id = 5678

[recordings]
folder   = /nonexistent/production/recordings
listen   = 0.0.0.0:5001
link_key = 0123456789abcdef0123
`, threecx.URL(), secret, bulutfon.URL())
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	iniPath := write("callhook.ini", ini)
	answered := write("my-call.yaml", answeredYAML)
	cancelled := write("cancelled.yaml", cancelledYAML)
	junit := filepath.Join(dir, "report.xml")
	jsonReport := filepath.Join(dir, "report.json")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const caller = "905321234567"
	out, errOut, code := callhook(t, ctx, "sim", "run", answered, cancelled, "--config", iniPath,
		"--set", "caller="+caller+",name=Ayşe Yılmaz", "--speed", "2",
		"--report", "junit:"+junit, "--report", "json:"+jsonReport)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	signer, err := delivery.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	recordings := 0
	for _, c := range threecx.Requests() {
		target := c.Path
		if c.RawQuery != "" {
			target += "?" + c.RawQuery
		}
		if err := signer.Verify(c.Header, target, c.Body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("3cx %s %s: %v", c.Method, target, err)
		}
		switch {
		case c.Method == http.MethodPost && strings.HasPrefix(string(c.Body), `{"FILES":["https://127.0.0.1:`):
			recordings++
			if c.Query.Get("id") == "" {
				t.Errorf("recording POST without the call id: %s", target)
			}
		case c.Method == http.MethodGet:
			events = append(events, c.Query.Get("event"))
			if got := c.Query.Get("callerid"); got != caller {
				t.Errorf("3cx %s callerid %q, want --set caller %s", c.Query.Get("event"), got, caller)
			}
		default:
			t.Errorf("3cx receiver got %s %s %s", c.Method, target, c.Body)
		}
	}
	if want := []string{"ringing", "hangupincoming", "incoming", "ringing", "incoming"}; !slices.Equal(events, want) {
		t.Errorf("3cx events %v, want %v", events, want)
	}
	if recordings != 1 {
		t.Errorf("%d recording POSTs, want 1 (the answered call)", recordings)
	}

	var types []string
	for _, c := range bulutfon.Requests() {
		if c.Method != http.MethodPost || c.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("bulutfon %s with Content-Type %q, want a form POST", c.Method, c.Header.Get("Content-Type"))
		}
		if user, pass, ok := (&http.Request{Header: c.Header}).BasicAuth(); !ok || user != "crm" || pass != "s3cret" {
			t.Errorf("bulutfon Authorization %q, want basic auth crm:s3cret", c.Header.Get("Authorization"))
		}
		form, err := url.ParseQuery(string(c.Body))
		if err != nil {
			t.Fatalf("bulutfon body %q: %v", c.Body, err)
		}
		types = append(types, form.Get("event_type"))
		if form.Get("domain_id") != "1234" || form.Get("account_id") != "5678" || form.Get("caller") != caller {
			t.Errorf("bulutfon form %v: want domain_id 1234, account_id 5678, caller %s", form, caller)
		}
	}
	if !slices.Contains(types, "call_init") || !slices.Contains(types, "call_hangup") || !slices.Contains(types, "missing_call") {
		t.Errorf("bulutfon events %v, want call_init, call_hangup and missing_call", types)
	}

	// The output shows each request as sent, and how it was answered.
	for _, want := range []string{"-> GET " + threecx.URL() + "/3cx?event=ringing", "Webhook-Signature: v1,",
		"Authorization: Basic [user crm, password hidden]", "Content-Type: application/x-www-form-urlencoded",
		"event_type=call_init", "<- 200 OK", "0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("crm:s3cret"))) {
		t.Errorf("output shows the basic auth password:\n%s", out)
	}

	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit report: %v\n%s", err, b)
	}
	if len(suites.Suites) != 1 || suites.Suites[0].Tests != 2 || suites.Suites[0].Failures != 0 {
		t.Fatalf("junit report:\n%s", b)
	}
	var names []string
	for _, c := range suites.Suites[0].Cases {
		names = append(names, c.Name)
	}
	if want := []string{"my-answered-call", "my-cancelled-call"}; !slices.Equal(names, want) {
		t.Errorf("junit testcases %v, want %v", names, want)
	}
	var rep struct {
		Passed int
		Cases  []struct{ Name, Status string }
	}
	if b, err = os.ReadFile(jsonReport); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Passed != 2 || len(rep.Cases) != 2 {
		t.Errorf("json report (%v):\n%s", err, b)
	}
}
