// Package check holds the conformance rules each dialect's receivers rely
// on, as functions over what a receiver captured. The rules come from the
// vendor documents (fixtures/), never from callhook's own output; the Ginkgo
// suites and `callhook conformance` share them.
package check

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/fixtures"
	"github.com/callhook/callhook/pbxsim/scenario"
	"gopkg.in/yaml.v3"
)

// Request is one request as a receiver got it.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	// Header is the request's headers, where the capture kept them.
	Header http.Header
	Body   []byte
}

// Query is the request's parameters.
func (r Request) Query() url.Values {
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

func (r Request) String() string { return r.Method + " " + r.Path + "?" + r.RawQuery }

// ThreeCX checks requests against the 3CX webhooks module's documented rules.
type ThreeCX struct {
	Rules *fixtures.ThreeCXRules
	// Status holds the extension and queue status events: the document
	// lists them without a wire form; the rules file gives callhook's.
	Status map[string]fixtures.ThreeCXEvent
	// OptIn holds events sent only when a receiver asks for them.
	OptIn map[string]fixtures.ThreeCXEvent
	// ix finds a rule's line in the rules file, for Failures.
	ix *fixtures.Index
}

// NewThreeCX loads the rules.
func NewThreeCX() (*ThreeCX, error) {
	r, err := fixtures.LoadThreeCX()
	if err != nil {
		return nil, err
	}
	b, err := fixtures.FS.ReadFile("3cx/webhooks-module.yaml")
	if err != nil {
		return nil, fmt.Errorf("read 3cx rules: %w", err)
	}
	var extra struct {
		Status map[string]fixtures.ThreeCXEvent `yaml:"status_events"`
		OptIn  map[string]fixtures.ThreeCXEvent `yaml:"opt_in_events"`
	}
	if err := yaml.Unmarshal(b, &extra); err != nil {
		return nil, fmt.Errorf("parse 3cx status rules: %w", err)
	}
	ix, err := fixtures.ThreeCXIndex()
	if err != nil {
		return nil, err
	}
	return &ThreeCX{Rules: r, Status: extra.Status, OptIn: extra.OptIn, ix: ix}, nil
}

// IsStatus says whether r is an extension or queue status event.
func (c *ThreeCX) IsStatus(r Request) bool {
	_, ok := c.Status[r.Query().Get("event")]
	return ok
}

// rule finds the rule for an event name: a call event, a status event or
// an opt-in one, and the section of the rules file it is in.
func (c *ThreeCX) rule(name string) (fixtures.ThreeCXEvent, string, bool) {
	if rule, ok := c.Rules.Events[name]; ok {
		return rule, "events", true
	}
	if rule, ok := c.Status[name]; ok {
		return rule, "status_events", true
	}
	rule, ok := c.OptIn[name]
	return rule, "opt_in_events", ok
}

// quote is the document's words for field of an event, else for the
// event itself.
func quote(rule fixtures.ThreeCXEvent, field string) fixtures.Quote {
	if q, ok := rule.Doc[field]; ok {
		return q
	}
	return rule.Doc["event"]
}

// Request runs the rules one request must keep by itself: Transport,
// Fields, Values and ID.
func (c *ThreeCX) Request(r Request) []error {
	return []error{c.Transport(r), c.Fields(r), c.Values(r), c.ID(r)}
}

// Transport: the module sends each event as one request of the documented
// method with its fields as query parameters and no body.
func (c *ThreeCX) Transport(r Request) error {
	if r.Method != c.Rules.Transport.Method {
		return fail(c.ix, "", c.Rules.Transport.Doc, fmt.Errorf("%s: method %s, the document's requests are %s", r, r.Method, c.Rules.Transport.Method), "transport", "method")
	}
	if len(r.Body) != 0 {
		return fail(c.ix, "", c.Rules.Transport.Doc, fmt.Errorf("%s: has a body (%d bytes); the document puts every field in the query", r, len(r.Body)), "transport", "fields_in")
	}
	return nil
}

// Fields: the event is one the document names, it carries every field the
// document lists for it, and none it does not.
func (c *ThreeCX) Fields(r Request) error {
	q := r.Query()
	name := q.Get("event")
	rule, section, ok := c.rule(name)
	if !ok {
		return fail(c.ix, "event", c.Rules.EventsDoc, fmt.Errorf("%s: event %q is not one the document names", r, name), "events")
	}
	var errs []error
	for _, f := range rule.Fields {
		if !q.Has(f) {
			errs = append(errs, fail(c.ix, f, quote(rule, f), fmt.Errorf("%s: %s lacks documented field %q", r, name, f), section, name, "fields"))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(rule.Fields, k) && !slices.Contains(rule.Optional, k) {
			errs = append(errs, fail(c.ix, k, quote(rule, "event"), fmt.Errorf("%s: %s carries undocumented field %q", r, name, k), section, name, "fields"))
		}
		if n := len(q[k]); n != 1 {
			errs = append(errs, fail(c.ix, k, quote(rule, k), fmt.Errorf("%s: field %q given %d times", r, k, n), section, name, "fields"))
		}
	}
	return errors.Join(errs...)
}

// Values: enumerated fields hold only the values the document lists.
func (c *ThreeCX) Values(r Request) error {
	q := r.Query()
	name := q.Get("event")
	rule, section, _ := c.rule(name)
	var errs []error
	for _, f := range slices.Sorted(maps.Keys(rule.Values)) {
		if allowed := rule.Values[f]; q.Has(f) && !slices.Contains(allowed, q.Get(f)) {
			errs = append(errs, fail(c.ix, f, quote(rule, f), fmt.Errorf("%s: %s=%q, the document allows %v", r, f, q.Get(f), allowed), section, name, "values", f))
		}
	}
	return errors.Join(errs...)
}

// ID: the id has the documented form <yyMMddHHmmss>_<number>-<link> with a
// real date-time. Status events are about an extension, not a call, and
// carry none.
func (c *ThreeCX) ID(r Request) error {
	if c.IsStatus(r) {
		if r.Query().Has("id") {
			name := r.Query().Get("event")
			return fail(c.ix, "id", quote(c.Status[name], "event"), fmt.Errorf("%s: a status event carries a call id", r), "status_events", name, "fields")
		}
		return nil
	}
	id := r.Query().Get("id")
	if !regexp.MustCompile(c.Rules.ID.Pattern).MatchString(id) {
		return fail(c.ix, "id", c.Rules.ID.Doc, fmt.Errorf("%s: id %q is not of the form yyMMddHHmmss_N-L", r, id), "id", "pattern")
	}
	if _, err := time.Parse("060102150405", id[:12]); err != nil {
		return fail(c.ix, "id", c.Rules.ID.Doc, fmt.Errorf("%s: id %q: date-time part: %w", r, id, err), "id", "pattern")
	}
	return nil
}

type parsedID struct {
	prefix string
	link   int
}

func parseID(id string) (parsedID, error) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return parsedID{}, fmt.Errorf("id %q has no link number", id)
	}
	link, err := strconv.Atoi(id[i+1:])
	if err != nil {
		return parsedID{}, fmt.Errorf("id %q: link: %w", id, err)
	}
	return parsedID{prefix: id[:i], link: link}, nil
}

// Chain: every request of one call shares date-time and call number ("All
// calls in a single chain of transfers have the same date, time, and unique
// number"), and links never go back.
func (c *ThreeCX) Chain(reqs []Request) error {
	var first parsedID
	last := -1
	i := 0
	for _, r := range reqs {
		if c.IsStatus(r) {
			continue
		}
		id, err := parseID(r.Query().Get("id"))
		if err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		i++
		if i == 1 {
			first = id
		} else if id.prefix != first.prefix {
			return fmt.Errorf("%s: id prefix %s differs from the call's %s", r, id.prefix, first.prefix)
		}
		if id.link < last {
			return fmt.Errorf("%s: link %d after link %d", r, id.link, last)
		}
		last = id.link
	}
	return nil
}

// Expected maps a scenario's vendor-neutral expectations onto 3CX events and
// checks reqs against them one by one: event name, user, callerid, did,
// link, finishtype, transfer, trtype, and duration within tolerance of the
// scenario's talk time.
//
// Call events are compared in order; status events belong to no call and
// are delivered in order per extension, so they are compared in order per
// extension, apart from the call events.
//
// The 3CX module reports calls to and from outside only: expectations
// about internal calls and barges (Expect.Direction) call for nothing. Its
// events are about extensions and queues ("user = Internal number. If the
// call is missed and terminated at the queue level, then this will be the
// queue extension number"): a call only the PBX itself had (its fax, a
// menu; Expect.IsPBXOnly) calls for nothing either.
func (c *ThreeCX) Expected(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) error {
	var exps []scenario.Expect
	for _, e := range outsideOnly(sc.Expect) {
		if !e.IsPBXOnly() {
			exps = append(exps, e)
		}
	}
	if len(reqs) != len(exps) {
		var got []string
		for _, r := range reqs {
			got = append(got, r.Query().Get("event"))
		}
		return fmt.Errorf("%s: %d requests %v, the scenario expects %d", sc.Name, len(reqs), got, len(exps))
	}
	var callExp []scenario.Expect
	var callReqs []Request
	statusExp := map[string][]scenario.Expect{}
	statusReqs := map[string][]Request{}
	for _, e := range exps {
		if e.IsStatus() {
			statusExp[e.User] = append(statusExp[e.User], e)
		} else {
			callExp = append(callExp, e)
		}
	}
	for _, r := range reqs {
		if c.IsStatus(r) {
			u := r.Query().Get("user")
			statusReqs[u] = append(statusReqs[u], r)
		} else {
			callReqs = append(callReqs, r)
		}
	}
	errs := []error{c.expectedCalls(sc.Name, callExp, callReqs, tolerance)}
	for user, exps := range statusExp {
		errs = append(errs, expectedStatus(sc.Name, user, exps, statusReqs[user]))
	}
	for user, rs := range statusReqs {
		if _, ok := statusExp[user]; !ok {
			errs = append(errs, fmt.Errorf("%s: %d unexpected status event(s) for %s, first %s", sc.Name, len(rs), user, rs[0]))
		}
	}
	return errors.Join(errs...)
}

// expectedStatus compares one extension's status events in order: event
// name and every field the expectation sets.
func expectedStatus(scenarioName, user string, exps []scenario.Expect, reqs []Request) error {
	if len(reqs) != len(exps) {
		return fmt.Errorf("%s: %d status event(s) for %s, the scenario expects %d", scenarioName, len(reqs), user, len(exps))
	}
	var errs []error
	for i, e := range exps {
		q := reqs[i].Query()
		for _, f := range []struct{ key, want string }{
			{"event", e.Event}, {"status", e.Status}, {"queue", e.Queue},
			{"destination", e.Destination}, {"name", e.Name}, {"reason", e.Reason},
		} {
			if f.want != "" && q.Get(f.key) != f.want {
				errs = append(errs, fmt.Errorf("%s: status event %d for %s: %s=%q, want %q (%s)", scenarioName, i+1, user, f.key, q.Get(f.key), f.want, reqs[i]))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *ThreeCX) expectedCalls(scenarioName string, exps []scenario.Expect, reqs []Request, tolerance time.Duration) error {
	if len(reqs) != len(exps) {
		var got []string
		for _, r := range reqs {
			got = append(got, r.Query().Get("event"))
		}
		return fmt.Errorf("%s: %d call event requests %v, the scenario expects %d", scenarioName, len(reqs), got, len(exps))
	}
	inbound := true
	for _, e := range exps {
		if e.Event == "dialing" {
			inbound = false
		}
	}
	var errs []error
	for i, e := range exps {
		r := reqs[i]
		q := r.Query()
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s request %d (%s): %s", scenarioName, i+1, e, fmt.Sprintf(format, args...)))
		}
		if want := eventName(e.Event, inbound); q.Get("event") != want {
			bad("event=%s, want %s", q.Get("event"), want)
		}
		if e.User != "" && q.Get("user") != e.User {
			bad("user=%s, want %s", q.Get("user"), e.User)
		}
		if e.External != "" && q.Get("callerid") != e.External {
			bad("callerid=%s, want %s", q.Get("callerid"), e.External)
		}
		if e.DID != "" && q.Get("did") != e.DID {
			bad("did=%s, want %s", q.Get("did"), e.DID)
		}
		if id, err := parseID(q.Get("id")); err != nil {
			bad("%v", err)
		} else if id.link != e.Link {
			bad("link %d (id %s), want %d", id.link, q.Get("id"), e.Link)
		}
		switch e.Event {
		case "ringing":
			// "usertype = ext / queue / other (user extension / queue /
			// other)": a phone rung directly is ext, an agent rung by a
			// queue is queue.
			want := e.UserType
			if want == "" {
				want = "ext"
			}
			if ut := q.Get("usertype"); ut != want {
				bad("usertype=%s, want %s", ut, want)
			}
		case "answered":
			want := map[string]string{"": "NotDef", "none": "NotDef", "blind": "Blind", "attended": "Accomp"}[e.Transfer]
			if q.Get("trtype") != want {
				bad("trtype=%s, want %s", q.Get("trtype"), want)
			}
		case "ended":
			want := map[string]string{"ok": "Ok", "missed": "Missed"}[e.Finish]
			if q.Get("finishtype") != want {
				bad("finishtype=%s, want %s", q.Get("finishtype"), want)
			}
			if q.Get("transfer") != strconv.FormatBool(e.Transferred) {
				bad("transfer=%s, want %t", q.Get("transfer"), e.Transferred)
			}
			if q.Get("title") == "" {
				bad("empty title")
			}
			if e.Finish == "ok" {
				d, err := strconv.Atoi(q.Get("duration"))
				if err != nil {
					bad("duration=%q is not whole seconds", q.Get("duration"))
				} else if diff := time.Duration(d)*time.Second - e.Talk.D(); diff > tolerance || diff < -tolerance {
					bad("duration=%d s, want %s ± %s", d, e.Talk.D(), tolerance)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// outsideOnly leaves out the expectations about internal calls and
// barges, for dialects that report neither.
func outsideOnly(exps []scenario.Expect) []scenario.Expect {
	var out []scenario.Expect
	for _, e := range exps {
		if !e.IsLocal() {
			out = append(out, e)
		}
	}
	return out
}

func eventName(neutral string, inbound bool) string {
	switch neutral {
	case "answered":
		if inbound {
			return "hangupincoming"
		}
		return "hangupoutgoing"
	case "ended":
		if inbound {
			return "incoming"
		}
		return "outgoing"
	}
	return neutral
}

// The dialect's conformance entry.
func init() {
	tcx, err := NewThreeCX()
	if err != nil {
		panic(err)
	}
	Register(Dialect{Name: "3cx", Variants: []Variant{{
		Check: func(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) []error {
			reqs = InRingingOrder(sc, reqs, ThreeCXRinging)
			errs := []error{tcx.Expected(sc, reqs, tolerance), tcx.Chain(reqs)}
			for _, r := range reqs {
				errs = append(errs, tcx.Request(r)...)
			}
			return errs
		},
	}}, Request: func(_ map[string]string, r Request) []error { return tcx.Request(r) }})
}
