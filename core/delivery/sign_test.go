package delivery_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/callhook/callhook/core/delivery"
)

// The verifier below is written from the Standard Webhooks specification
// (spec/standard-webhooks.md, "Signature scheme", "Webhook headers",
// "Verifying signatures") plus callhook's one rule for requests without a
// body; it shares no code with delivery's Signer, so a mistake in one does
// not hide in the other. docs/signing.md shows it verbatim (checked by
// TestSigningDocExample).

// doc:begin verifyWebhook

// verifyWebhook checks a callhook request the Standard Webhooks way.
// secrets are the receiver's whsec_ secrets (new and old while switching),
// target the raw request target (r.RequestURI), body the raw body.
func verifyWebhook(secrets []string, h http.Header, target string, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", ts, err)
	}
	if age := now.Sub(time.Unix(secs, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s: more than 5 minutes from now", ts)
	}
	content := body
	if len(body) == 0 {
		content = []byte(target) // a request without a body signs its target
	}
	for i, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return fmt.Errorf("secret %d: %w", i+1, err)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(content)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		for _, sig := range strings.Split(sigs, " ") {
			if hmac.Equal([]byte(sig), []byte(want)) {
				return nil
			}
		}
	}
	return errors.New("no webhook-signature matches")
}

// doc:end

const (
	noMatch = "no webhook-signature matches"
	stale   = "more than 5 minutes from now"
)

// received is one request as the receiver got it off the wire.
type received struct {
	method, target string // target: r.RequestURI, the raw request target
	proto          int
	header         http.Header
	body           []byte
}

// receiver starts a real HTTP server on a loopback port (TLS and HTTP/2
// when h2) that hands every request it answers to the returned channel
// before answering, so a finished Send means the request is there.
func receiver(t *testing.T, h2 bool) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: read body: %v", err)
		}
		got <- received{method: r.Method, target: r.RequestURI, proto: r.ProtoMajor, header: r.Header.Clone(), body: body}
	}))
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, got
}

// deliver sends r once through Receivers (where signing happens) with
// policy p and returns what the receiver got.
func deliver(t *testing.T, sender *delivery.Sender, p delivery.Policy, got <-chan received, r delivery.Request) received {
	t.Helper()
	p.AllowPrivate, p.Retry = true, delivery.RetryPolicy{Attempts: 1}
	r.Receiver = "crm"
	rs := delivery.NewReceivers(sender, map[string]delivery.Policy{"crm": p})
	if res := rs.Send(context.Background(), r); !res.OK() {
		t.Fatalf("send %s: %v", r.URL, res.Err)
	}
	select {
	case g := <-got:
		return g
	default:
		t.Fatalf("send %s succeeded but the receiver has no request", r.URL)
		return received{}
	}
}

// payload is what a Standard Webhooks library is given as the payload.
func (g received) payload() []byte {
	if len(g.body) == 0 {
		return []byte(g.target)
	}
	return g.body
}

// TestSignedRequestsPerDialect: requests shaped as each dialect sends them,
// signed with two secrets (a rotation), arrive verifiable with either secret
// by the independent verifier and by the Standard Webhooks reference
// library; a changed query, a changed body, a wrong secret and a stale
// timestamp fail.
func TestSignedRequestsPerDialect(t *testing.T) {
	secrets := []string{docSecret, docPreviousSecret}
	signer, err := delivery.NewSigner(secrets[0], secrets[1])
	if err != nil {
		t.Fatal(err)
	}
	srv, got := receiver(t, false)
	sender := delivery.NewSender()
	jsonType := http.Header{"Content-Type": {"application/json"}}
	formType := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	// Shaped as core/dialect renders them: 3cx fields as a query in the
	// document's order (url.QueryEscape), bulutfon JSON or form, voipex JSON.
	tests := []struct {
		name, method, target string
		header               http.Header
		body                 string
		tampered             []string // targets (no body) or bodies that must fail
	}{
		{"3cx GET", http.MethodGet, docGETTarget, http.Header{}, "", []string{
			strings.Replace(docGETTarget, "user=101", "user=102", 1),
			strings.Replace(docGETTarget, "finishtype=Ok", "finishtype=Missed", 1),
			docGETTarget + "&user=102",
			strings.Replace(docGETTarget, "&duration=65", "", 1),
			strings.Replace(docGETTarget, "event=incoming&callerid=%2B905321234567", "callerid=%2B905321234567&event=incoming", 1),
			strings.Replace(docGETTarget, "/hooks/3cx?", "/hooks/other?", 1),
			"/hooks/3cx?event=ringing&callerid=%2B905321234567&user=101&usertype=ext&did=02125550100&id=231115011200_512-0",
		}},
		{"bulutfon JSON POST", http.MethodPost, "/hooks/bulutfon", jsonType, docPOSTBody, []string{
			strings.Replace(docPOSTBody, "65", "650", 1),
			docPOSTBody + "\n",
		}},
		{"bulutfon form POST", http.MethodPost, "/hooks/bulutfon", formType,
			"event_type=call_init&caller=%2B905321234567&callee=08508850000&uuid=8d2f3c0e-8a8b-4c44-9d1e-2b7f1c6a5e10&direction=IN", []string{
				"event_type=call_init&caller=%2B905320000000&callee=08508850000&uuid=8d2f3c0e-8a8b-4c44-9d1e-2b7f1c6a5e10&direction=IN",
			}},
		{"voipex JSON POST", http.MethodPost, "/hooks/voipex", jsonType,
			`{"EventName":"NewCall","From":"05321234567","To":"101","Line":"02125550100","UniqueId":"1700000000.12","Direction":"Inbound"}`, []string{
				`{"EventName":"NewCall","From":"05321234567","To":"102","Line":"02125550100","UniqueId":"1700000000.12","Direction":"Inbound"}`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			g := deliver(t, sender, delivery.Policy{Signer: signer}, got, delivery.Request{
				ID: "crm-1699999920_512-4", Method: tt.method, URL: srv.URL + tt.target, Header: tt.header, Body: body,
			})
			if g.method != tt.method || g.target != tt.target || string(g.body) != tt.body {
				t.Fatalf("receiver got %s %s %q, want %s %s %q", g.method, g.target, g.body, tt.method, tt.target, tt.body)
			}
			if n := len(strings.Fields(g.header.Get("webhook-signature"))); n != 2 {
				t.Fatalf("webhook-signature %q: %d signatures, want one per secret", g.header.Get("webhook-signature"), n)
			}
			now := time.Now()
			for _, secret := range secrets {
				if err := verifyWebhook([]string{secret}, g.header, g.target, g.body, now); err != nil {
					t.Errorf("receiver holding %.12s…: %v", secret, err)
				}
				wh, err := standardwebhooks.NewWebhook(secret)
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.Verify(g.payload(), g.header); err != nil {
					t.Errorf("reference library holding %.12s…: %v", secret, err)
				}
			}
			if err := verifyWebhook([]string{docBulutSecret}, g.header, g.target, g.body, now); err == nil || err.Error() != noMatch {
				t.Errorf("wrong secret: err = %v, want %q", err, noMatch)
			}
			if err := verifyWebhook(secrets, g.header, g.target, g.body, now.Add(5*time.Minute+time.Second)); err == nil || !strings.Contains(err.Error(), stale) {
				t.Errorf("replayed 5 minutes later: err = %v, want %q", err, stale)
			}
			for _, bad := range tt.tampered {
				target, body := g.target, []byte(bad)
				if len(g.body) == 0 {
					target, body = bad, nil
				}
				if err := verifyWebhook(secrets, g.header, target, body, now); err == nil || err.Error() != noMatch {
					t.Errorf("tampered %q: err = %v, want %q", bad, err, noMatch)
				}
				wh, _ := standardwebhooks.NewWebhook(secrets[0])
				if err := wh.Verify([]byte(bad), g.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
					t.Errorf("tampered %q, reference library: err = %v", bad, err)
				}
			}
		})
	}
}

// TestRequestTargetOnTheWire: the target the engine signs for a request
// without a body is byte for byte the one the receiver gets, also where
// net/http re-escapes the path, over HTTP/1.1 and HTTP/2.
func TestRequestTargetOnTheWire(t *testing.T) {
	signer, err := delivery.NewSigner(docSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{false, true} {
		srv, got := receiver(t, h2)
		sender, proto := delivery.NewSender(), 1
		if h2 {
			sender, proto = delivery.NewSender(delivery.WithSenderTransport(srv.Client().Transport)), 2
		}
		host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
		scheme := strings.TrimSuffix(srv.URL, host)
		for _, tt := range []struct {
			method, url, want string
		}{
			{"GET", scheme + host + "/a b/ça|x?x=%2B1&y=a+b&z", "/a%20b/%C3%A7a%7Cx?x=%2B1&y=a+b&z"},
			{"GET", scheme + host + "/enc%2Fslash/%7e?q=%E2%82%AC&r=%3D", "/enc%2Fslash/%7e?q=%E2%82%AC&r=%3D"},
			{"GET", scheme + host + "/x?", "/x?"},
			{"GET", scheme + host + "?event=ringing", "/?event=ringing"},
			{"GET", scheme + "user:pass@" + host + "/p?q=1#fragment", "/p?q=1"},
			{"POST", scheme + host + "/empty-post?event=ringing", "/empty-post?event=ringing"},
		} {
			t.Run(fmt.Sprintf("h2=%v %s %s", h2, tt.method, tt.want), func(t *testing.T) {
				target, err := delivery.RequestTarget(tt.url)
				if err != nil || target != tt.want {
					t.Fatalf("RequestTarget = %q, %v; want %q", target, err, tt.want)
				}
				g := deliver(t, sender, delivery.Policy{Signer: signer}, got, delivery.Request{ID: "w1", Method: tt.method, URL: tt.url})
				if g.proto != proto {
					t.Fatalf("request went over HTTP/%d", g.proto)
				}
				if g.target != tt.want {
					t.Fatalf("receiver got target %q, want %q", g.target, tt.want)
				}
				if err := verifyWebhook([]string{docSecret}, g.header, g.target, nil, time.Now()); err != nil {
					t.Fatalf("verify %s: %v", g.target, err)
				}
			})
		}
	}
	if _, err := delivery.RequestTarget("http://h/%zz"); err == nil {
		t.Error("RequestTarget accepted an invalid escape")
	}
}

// The example of docs/signing.md. TestSigningDocExample checks the file
// shows exactly these values and that they verify.
const (
	docSecret         = "whsec_8+V6T7Fll9chXiNHTcltuhy6QTf6UPiU"
	docPreviousSecret = "whsec_KAxV6NJsF29RRcbnLI8UKtM0hHNYKQ2v"
	docBulutSecret    = "whsec_zv4tXgFugn9VBx04XXHjcx7AsSW4MekB"
	docTimestamp      = 1700000000
	docGETID          = "crm-1699999920_512-4"
	docGETTarget      = "/hooks/3cx?event=incoming&callerid=%2B905321234567&user=101&did=02125550100&finishtype=Ok&transfer=false&duration=65&title=Incoming+call+from+%2B905321234567+answered+by+101&id=231115011200_512-1"
	docGETSignature   = "v1,7B0YCbM4nuhMvKRChyxVqCGQcehItmWNuwWT5lAe5pg= v1,G/RZaUx7u5gDmsAZskYpLFHiXzb9MY2DM/e5Wdt+8/M="
	docPOSTID         = "bulut-1699999920_512-4"
	docPOSTBody       = `{"event_type":"call_hangup","caller":905321234567,"callee":902125550100,"uuid":"8d2f3c0e-8a8b-4c44-9d1e-2b7f1c6a5e10","direction":"IN","talk_duration":65}`
	docPOSTSignature  = "v1,KQlbKN8eMoYeNR7qrC6DqXLf2A56iVmgZ3NegYthEkc="
)

// docCase is one verification the doc example must pass or fail, run by
// every verifier (Go here, and the doc's Python and JavaScript).
type docCase struct {
	Name    string            `json:"name"`
	Secrets []string          `json:"secrets"`
	Headers map[string]string `json:"headers"`
	Target  string            `json:"target"`
	Body    string            `json:"body"`
	Now     int64             `json:"now"`
	OK      bool              `json:"ok"`
}

func docCases() []docCase {
	get := map[string]string{"webhook-id": docGETID, "webhook-timestamp": strconv.Itoa(docTimestamp), "webhook-signature": docGETSignature}
	post := map[string]string{"webhook-id": docPOSTID, "webhook-timestamp": strconv.Itoa(docTimestamp), "webhook-signature": docPOSTSignature}
	tamperedGET := strings.Replace(docGETTarget, "user=101", "user=102", 1)
	return []docCase{
		{"GET, new secret", []string{docSecret}, get, docGETTarget, "", docTimestamp, true},
		{"GET, previous secret", []string{docPreviousSecret}, get, docGETTarget, "", docTimestamp, true},
		{"GET, 5 minutes later", []string{docSecret}, get, docGETTarget, "", docTimestamp + 300, true},
		{"GET, tampered query", []string{docSecret, docPreviousSecret}, get, tamperedGET, "", docTimestamp, false},
		{"GET, wrong secret", []string{docBulutSecret}, get, docGETTarget, "", docTimestamp, false},
		{"GET, stale", []string{docSecret}, get, docGETTarget, "", docTimestamp + 301, false},
		{"POST", []string{docBulutSecret}, post, "/hooks/bulutfon", docPOSTBody, docTimestamp, true},
		{"POST, tampered body", []string{docBulutSecret}, post, "/hooks/bulutfon", strings.Replace(docPOSTBody, "65", "66", 1), docTimestamp, false},
	}
}

// TestSigningDocExample: docs/signing.md shows the values above and the
// verifier above verbatim; the values verify with the independent verifier,
// the reference library, and the doc's Python and JavaScript functions (when
// python3 and node are installed); callhook's Signer makes exactly these
// signatures.
func TestSigningDocExample(t *testing.T) {
	doc := readFile(t, "../../docs/signing.md")
	self := readFile(t, "sign_test.go")
	snippet := between(t, self, "// doc:begin verifyWebhook\n\n", "\n// doc:end")
	wantInDoc := []string{
		"```go\n" + snippet + "```\n",
		"signing_secret = " + docSecret + "\nsigning_secret_previous = " + docPreviousSecret + "\n",
		"signing_secret = " + docBulutSecret + "\n",
		fmt.Sprintf("GET %s HTTP/1.1\nHost: crm.example.com\nwebhook-id: %s\nwebhook-timestamp: %d\nwebhook-signature: %s\n```",
			docGETTarget, docGETID, docTimestamp, docGETSignature),
		fmt.Sprintf("POST /hooks/bulutfon HTTP/1.1\nHost: crm.example.com\nContent-Type: application/json\nwebhook-id: %s\nwebhook-timestamp: %d\nwebhook-signature: %s\n\n%s\n```",
			docPOSTID, docTimestamp, docPOSTSignature, docPOSTBody),
	}
	for _, want := range wantInDoc {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/signing.md does not show:\n%s", want)
		}
	}

	cases := docCases()
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.Headers {
			h.Set(k, v)
		}
		err := verifyWebhook(c.Secrets, h, c.Target, []byte(c.Body), time.Unix(c.Now, 0))
		if (err == nil) != c.OK {
			t.Errorf("%s: err = %v, want ok = %v", c.Name, err, c.OK)
		}
		if c.Now != docTimestamp { // the reference library checks against the clock
			continue
		}
		payload := []byte(c.Body)
		if c.Body == "" {
			payload = []byte(c.Target)
		}
		ok := false
		for _, secret := range c.Secrets {
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			ok = ok || wh.VerifyIgnoringTimestamp(payload, h) == nil
		}
		if ok != c.OK {
			t.Errorf("%s: reference library ok = %v, want %v", c.Name, ok, c.OK)
		}
	}

	get, err := delivery.NewSigner(docSecret, docPreviousSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	get.Sign(h, docGETID, time.Unix(docTimestamp, 0), docGETTarget, nil)
	if h.Get("webhook-signature") != docGETSignature || h.Get("webhook-timestamp") != strconv.Itoa(docTimestamp) {
		t.Errorf("Signer made %q at %s, the doc shows %q", h.Get("webhook-signature"), h.Get("webhook-timestamp"), docGETSignature)
	}
	post, err := delivery.NewSigner(docBulutSecret)
	if err != nil {
		t.Fatal(err)
	}
	if s := post.Signature(docPOSTID, time.Unix(docTimestamp, 0), []byte(docPOSTBody)); s != docPOSTSignature {
		t.Errorf("Signer made %q, the doc shows %q", s, docPOSTSignature)
	}

	input, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	// Each harness reads the cases on stdin and prints one line per case.
	t.Run("python", func(t *testing.T) {
		runSnippet(t, input, "python3", ".py", between(t, doc, "```python\n", "```\n")+`
import json, sys
for c in json.load(sys.stdin):
    try:
        verify_webhook(c["secrets"], c["headers"], c["target"], c["body"].encode(), now=c["now"])
        ok = True
    except Exception:
        ok = False
    print(("pass " if ok == c["ok"] else "FAIL ") + c["name"])
`)
	})
	t.Run("javascript", func(t *testing.T) {
		runSnippet(t, input, "node", ".js", between(t, doc, "```js\n", "```\n")+`
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
for (const c of cases) {
  let ok = true;
  try { verifyWebhook(c.secrets, c.headers, c.target, Buffer.from(c.body), c.now); } catch (e) { ok = false; }
  console.log((ok === c.ok ? "pass " : "FAIL ") + c.name);
}
`)
	})
}

// runSnippet runs program with interpreter, cases on stdin, and expects a
// "pass" line for every case; it skips when the interpreter is missing.
func runSnippet(t *testing.T, cases []byte, interpreter, ext, program string) {
	path, err := exec.LookPath(interpreter)
	if err != nil {
		t.Skipf("%s not installed: install it (Debian package of that name) to check the signature with a receiver's own verification code", interpreter)
	}
	file := t.TempDir() + "/verify" + ext
	if err := os.WriteFile(file, []byte(program), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, file)
	cmd.Stdin = bytes.NewReader(cases)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", interpreter, file, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if n := len(docCases()); len(lines) != n {
		t.Fatalf("%s printed %d lines, want %d:\n%s", interpreter, len(lines), n, out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "pass ") {
			t.Errorf("%s: %s", interpreter, l)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// between returns the text after the first start and up to the next end.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("no %q", start)
	}
	text, _, ok := strings.Cut(rest, end)
	if !ok {
		t.Fatalf("no %q after %q", end, start)
	}
	return text
}
