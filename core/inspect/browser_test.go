package inspect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/inspect"
	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/core/webhook"
	"github.com/callhook/callhook/scenarios"
)

// misspelt is a test dialect: 3CX's renderer with one field wrong, as a
// dialect author's slip would make it (usertype=extension for ext). It
// registers the 3CX vendor rules as its own, as a dialect reusing 3CX's
// payloads would, so the inspector checks it against them.
const misspelt = "3cx-misspelt"

func init() {
	tcx, err := dialect.Lookup("3cx")
	if err != nil {
		panic(err)
	}
	dialect.Register(dialect.Spec{Name: misspelt, Doc: "3cx with usertype misspelt (a test receiver)",
		New: func(w dialect.Webhook) (dialect.Renderer, error) {
			r, err := tcx.New(w)
			if err != nil {
				return nil, err
			}
			return dialect.RendererFunc(func(ev callmodel.Event) (webhook.Request, bool) {
				req, ok := r.Render(ev)
				if u, err := url.Parse(req.URL); ok && err == nil && u.Query().Get("usertype") == "ext" {
					req.URL = strings.Replace(req.URL, "usertype=ext", "usertype=extension", 1)
				}
				return req, ok
			}), nil
		}})
	rules, err := check.Lookup("3cx")
	if err != nil {
		panic(err)
	}
	check.Register(check.Dialect{Name: misspelt, Variants: rules.Variants, Request: rules.Request})
}

// receiver answers each webhook's first attempt 503 with a reason and
// later ones 200 with what it took, so every webhook has an attempt
// that failed and one that went through, each with its answer.
type receiver struct {
	srv  *http.Server
	url  string
	mu   sync.Mutex
	seen map[string]int
}

func startReceiver(t *testing.T) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{url: "http://" + ln.Addr().String(), seen: map[string]int{}}
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.seen[id]++
		n := r.seen[id]
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"error":"crm busy, try again","attempt":%d}`, n)
			return
		}
		fmt.Fprintf(w, `{"received":%q,"attempt":%d}`, id, n)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
	return r
}

// page is what the test reads back from the rendered page.
type page struct {
	Conn     string   `json:"conn"`
	Loaded   float64  `json:"loaded"`
	Calls    []string `json:"calls"`
	Detail   string   `json:"detail"`
	Parties  []string `json:"parties"`
	Ladder   []string `json:"ladder"`
	Timeline []string `json:"timeline"`
	Webhooks []struct {
		Receiver string   `json:"receiver"`
		State    string   `json:"state"`
		Fail     []string `json:"fail"` // highlighted fields
		Bg       string   `json:"bg"`   // a highlighted field's background
		Failures []struct {
			Field, Msg, Rule, Doc, Cite string
		} `json:"failures"`
		OK       bool `json:"ok"`
		Attempts []struct {
			Status int    `json:"status"`
			Body   string `json:"body"`
		} `json:"attempts"`
	} `json:"webhooks"`
}

// readPage collects the rendered ladder, timeline and webhooks.
const readPage = `(() => {
  const q = (s, e) => [...(e || document).querySelectorAll(s)];
  const txt = (s, e) => { const x = (e || document).querySelector(s); return x ? x.textContent : ""; };
  return {
    conn: txt("#conn"),
    loaded: window.__loaded || 0,
    calls: q("#calls li").map((li) => li.dataset.key),
    detail: document.getElementById("detail").dataset.key || "",
    parties: q("#ladder th.party").map((th) => th.textContent),
    ladder: q("#ladder tr.sip").map((tr) => tr.dataset.from + ">" + tr.dataset.to + " " + tr.dataset.msg),
    timeline: q("#timeline li").map((li) => li.dataset.kind + " " + txt(".what", li)),
    webhooks: q("#webhooks .webhook").map((w) => ({
      receiver: w.dataset.receiver, state: w.dataset.state,
      fail: q("tr.field.fail", w).map((tr) => tr.dataset.field),
      bg: (() => { const td = w.querySelector("tr.field.fail td"); return td ? getComputedStyle(td).backgroundColor : ""; })(),
      failures: q(".failure", w).map((f) => ({ Field: f.dataset.field, Msg: txt(".msg", f), Rule: txt(".rule", f), Doc: txt(".doc .quote", f), Cite: txt(".doc cite", f) })),
      ok: !!w.querySelector(".ok-rules"),
      attempts: q("li.attempt", w).map((a) => ({ status: +a.dataset.status, body: txt(".response-body", a) })),
    })),
  };
})()`

// The browser opens the inspector before a scenario plays and, without
// reloading, shows the call live: the SIP ladder from pbxsim, the
// timeline of PBX signals, call events and webhooks, every attempt with
// the receiver's status and answer, and the rule a misspelt field breaks,
// highlighted and quoted from the 3CX document.
func TestInspectorInBrowser(t *testing.T) {
	path := needChrome(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	recv := startReceiver(t)
	crmURL, _ := url.Parse(recv.url + "/crm")
	typoURL, _ := url.Parse(recv.url + "/typo")
	var h atomic.Pointer[harness.Harness]
	in := inspect.New(inspect.Options{
		Receivers: map[string]inspect.Receiver{"crm": {Dialect: "3cx"}, "typo": {Dialect: misspelt}},
		SIP: inspect.SIPFunc(func(calls []string) []inspect.SIPLeg {
			if h := h.Load(); h != nil {
				return h.SIP().Legs(calls)
			}
			return nil
		}),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: in, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// The page is open and live before the PBX has a call.
	br := startChrome(t, path)
	br.navigate("http://" + ln.Addr().String() + "/")
	var p page
	read := func() string {
		if err := br.eval(readPage, &p); err != nil {
			return err.Error()
		}
		return ""
	}
	waitfor.Condition(t, time.Minute, "the page connected to the live updates", func() string {
		if s := read(); s != "" {
			return s
		}
		if p.Conn != "live" {
			return "connection shows " + p.Conn
		}
		return ""
	})
	var marker float64
	if err := br.eval(`window.__loaded = Date.now()`, &marker); err != nil {
		t.Fatal(err)
	}

	hs, err := harness.Start(ctx, harness.Config{
		Receivers: []harness.Receiver{{Name: "crm", Dialect: "3cx", URL: crmURL}, {Name: "typo", Dialect: misspelt, URL: typoURL}},
		Speed:     20, Ladder: true,
		Retry:  delivery.RetryPolicy{Attempts: 3, Min: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		Stages: []engine.Stage{in}, OnAttempt: in.Attempt, OnResult: in.Result,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Store(hs)
	defer hs.Close()
	sc, err := scenarios.Load("inbound-answered")
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.Play(ctx, sc); err != nil {
		t.Fatal(err)
	}

	// 3CX's inbound-answered: ringing, hangupincoming, incoming, to each
	// of the two receivers.
	const hooks = 6
	waitfor.Condition(t, time.Minute, "the page showing the call's ladder and its delivered webhooks", func() string {
		if s := read(); s != "" {
			return s
		}
		delivered := 0
		for _, w := range p.Webhooks {
			if w.State == "delivered" && len(w.Attempts) >= 2 {
				delivered++
			}
		}
		switch {
		case len(p.Calls) == 0 || p.Detail == "":
			return "no call shown"
		case !slices.Contains(p.Ladder, "PBX>101 INVITE") || !slices.Contains(p.Ladder, "PBX>101 BYE") && !slices.Contains(p.Ladder, "101>PBX BYE"):
			return fmt.Sprintf("ladder %v", p.Ladder)
		case delivered < hooks:
			return fmt.Sprintf("%d of %d webhooks shown delivered after a retry", delivered, hooks)
		}
		return ""
	})
	if p.Loaded != marker {
		t.Errorf("the page was reloaded (marker %v, now %v): the call must come by live update", marker, p.Loaded)
	}

	// The ladder: the caller's leg left of the PBX, 101's right of it,
	// the whole exchange of an answered call.
	if len(p.Parties) != 3 || p.Parties[1] != "PBX" || p.Parties[2] != "101" {
		t.Errorf("ladder parties %v, want [caller PBX 101]", p.Parties)
	}
	caller := p.Parties[0]
	for _, want := range []string{
		caller + ">PBX INVITE", "PBX>101 INVITE", "101>PBX 180 INVITE", "PBX>" + caller + " 180 INVITE",
		"101>PBX 200 INVITE", "PBX>" + caller + " 200 INVITE", caller + ">PBX ACK", "PBX>101 ACK",
	} {
		if !slices.Contains(p.Ladder, want) {
			t.Errorf("ladder lacks %q: %v", want, p.Ladder)
		}
	}
	// The timeline: the PBX's signals, the call's events and each
	// webhook with its attempts, in the order they happened.
	count := map[string]int{}
	for _, it := range p.Timeline {
		kind, what, _ := strings.Cut(it, " ")
		count[kind]++
		count[kind+" "+what]++
	}
	if count["signal"] == 0 || count["event ringing"] == 0 || count["event answered"] == 0 || count["event ended"] == 0 ||
		count["webhook"] != hooks || count["attempt attempt 1"] != hooks || count["attempt attempt 2"] != hooks {
		t.Errorf("timeline %v", p.Timeline)
	}
	if i, j := slices.Index(p.Timeline, "event ringing"), slices.Index(p.Timeline, "webhook webhook"); i < 0 || j < i {
		t.Errorf("the first webhook comes before the ringing that caused it: %v", p.Timeline)
	}

	var typoFailures, crmOK int
	for _, w := range p.Webhooks {
		// Every attempt with the receiver's status and answer.
		if len(w.Attempts) != 2 || w.Attempts[0].Status != 503 || !strings.Contains(w.Attempts[0].Body, "crm busy, try again") ||
			w.Attempts[1].Status != 200 || !strings.Contains(w.Attempts[1].Body, `"received"`) {
			t.Errorf("%s webhook attempts %+v, want 503 with the receiver's reason, then 200 with its answer", w.Receiver, w.Attempts)
		}
		switch w.Receiver {
		case "crm":
			if w.OK && len(w.Failures) == 0 {
				crmOK++
			}
		case "typo":
			if len(w.Failures) == 0 {
				continue
			}
			typoFailures++
			// The misspelt field is highlighted, and the rule quoted
			// from the fixture and the document.
			f := w.Failures[0]
			if !slices.Equal(w.Fail, []string{"usertype"}) || w.Bg == "" || w.Bg == "rgba(0, 0, 0, 0)" {
				t.Errorf("highlighted fields %v (background %q), want usertype highlighted", w.Fail, w.Bg)
			}
			if f.Field != "usertype" || !strings.Contains(f.Msg, `usertype="extension"`) ||
				!strings.Contains(f.Rule, "fixtures/3cx/webhooks-module.yaml:") || !strings.Contains(f.Rule, "usertype: [ext, queue, other]") ||
				!strings.HasPrefix(f.Doc, "usertype = ext / queue / other") || f.Cite != "3cx-webhooks-module.ru-en.txt, line 33" {
				t.Errorf("failure shown %+v", f)
			}
		}
	}
	if typoFailures != 1 {
		t.Errorf("%d of the misspelt receiver's webhooks shown breaking a rule, want its ringing only", typoFailures)
	}
	if crmOK != hooks/2 {
		t.Errorf("%d of the 3cx receiver's webhooks shown keeping the rules, want all %d", crmOK, hooks/2)
	}
	if out := os.Getenv("CALLHOOK_INSPECT_SCREENSHOT"); out != "" {
		br.screenshot(out)
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(p, "", " ")
		t.Logf("page: %s\nconsole: %v", b, br.console())
	}
}
