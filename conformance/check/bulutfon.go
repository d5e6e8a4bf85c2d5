package check

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/fixtures"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// Bulutfon checks requests against the Bulutfon web hooks' documented
// rules, for one profile ("current" or "legacy") and encoding.
type Bulutfon struct {
	Rules   *fixtures.BulutfonRules
	Profile string
	Form    bool
	// ix finds a rule's line in the rules file, for Failures.
	ix *fixtures.Index
}

// NewBulutfon loads the rules.
func NewBulutfon(profile string, form bool) (*Bulutfon, error) {
	r, err := fixtures.LoadBulutfon()
	if err != nil {
		return nil, err
	}
	if _, ok := r.Profiles[profile]; !ok {
		return nil, fmt.Errorf("bulutfon rules have no profile %q", profile)
	}
	ix, err := fixtures.BulutfonIndex()
	if err != nil {
		return nil, err
	}
	return &Bulutfon{Rules: r, Profile: profile, Form: form, ix: ix}, nil
}

// Payload is one decoded request body: top-level keys to values. JSON
// numbers stay json.Number; a form body's values are strings, its nested
// keys (cdr[uuid]) grouped under their top-level key.
type Payload map[string]any

// Str is a field as text (a JSON number's digits, a string, "" for null).
func (p Payload) Str(k string) string {
	switch v := p[k].(type) {
	case json.Number:
		return v.String()
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// Decode reads r's body in the encoding the check expects.
func (c *Bulutfon) Decode(r Request) (Payload, error) {
	if c.Form {
		q, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return nil, fmt.Errorf("%s: form body: %w", r.Method, err)
		}
		p := Payload{}
		for k, v := range q {
			top, _, nested := strings.Cut(k, "[")
			if nested {
				m, _ := p[top].(map[string]string)
				if m == nil {
					m = map[string]string{}
					p[top] = m
				}
				m[k] = v[0]
				continue
			}
			if len(v) != 1 {
				return nil, fmt.Errorf("form field %q given %d times", k, len(v))
			}
			p[k] = v[0]
		}
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	var p Payload
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("JSON body %q: %w", r.Body, err)
	}
	return p, nil
}

// Request runs the rules one request must keep by itself, now being
// about when it was sent: Transport, then Fields and Values of its
// decoded body.
func (c *Bulutfon) Request(r Request, now time.Time) []error {
	errs := []error{c.Transport(r, r.Header.Get("Content-Type"))}
	p, err := c.Decode(r)
	if err != nil {
		return append(errs, err)
	}
	return append(errs, c.Fields(p), c.Values(p, now))
}

// Transport: a POST with the encoding's content type and a body.
func (c *Bulutfon) Transport(r Request, contentType string) error {
	doc := c.Rules.Doc
	if r.Method != c.Rules.Transport.Method {
		return fail(c.ix, "", doc["transport"], fmt.Errorf("method %s, the document POSTs", r.Method), "transport", "method")
	}
	enc := "json"
	if c.Form {
		enc = "form"
	}
	want := c.Rules.Transport.ContentTypes[enc]
	if mt, _, _ := mime.ParseMediaType(contentType); mt != want {
		return fail(c.ix, "Content-Type", doc["content_type"], fmt.Errorf("content type %q, want %s", contentType, want), "transport", "content_types", enc)
	}
	if len(r.Body) == 0 {
		return fail(c.ix, "", doc["transport"], errors.New("empty body"), "transport")
	}
	return nil
}

// Fields: the event is one the profile names and carries exactly its
// documented fields (the autodial ones only with autodial).
func (c *Bulutfon) Fields(p Payload) error {
	doc := c.Rules.Doc
	name := p.Str("event_type")
	rule, ok := c.Rules.Profiles[c.Profile].Events[name]
	if !ok {
		return fail(c.ix, "event_type", doc["event_type"], fmt.Errorf("event_type %q is not one the %s document names", name, c.Profile), "profiles", c.Profile, "events")
	}
	at := []string{"profiles", c.Profile, "events", name}
	var errs []error
	for _, f := range rule.Fields {
		if _, ok := p[f]; !ok {
			errs = append(errs, fail(c.ix, f, doc[f], fmt.Errorf("%s lacks documented field %q", name, f), at...))
		}
	}
	_, auto := p["autodial"]
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if slices.Contains(rule.Fields, k) || slices.Contains(rule.Optional, k) || (auto && slices.Contains(c.Rules.Autodial, k)) {
			continue
		}
		errs = append(errs, fail(c.ix, k, doc["common"], fmt.Errorf("%s carries undocumented field %q", name, k), at...))
	}
	if auto {
		for _, f := range c.Rules.Autodial {
			if _, ok := p[f]; !ok {
				errs = append(errs, fail(c.ix, f, doc[f], fmt.Errorf("autodial %s lacks %q", name, f), "autodial"))
			}
		}
	}
	return errors.Join(errs...)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Values: enumerated fields hold documented values; uuid is a UUID; the
// timestamp is microseconds since the epoch near now; a number is a JSON
// number only when writing it as one keeps every digit.
func (c *Bulutfon) Values(p Payload, now time.Time) error {
	var errs []error
	doc := c.Rules.Doc
	bad := func(field string, path []string, format string, args ...any) {
		errs = append(errs, fail(c.ix, field, doc[field], fmt.Errorf(format, args...), path...))
	}
	for _, f := range slices.Sorted(maps.Keys(c.Rules.Values)) {
		if allowed := c.Rules.Values[f]; !slices.Contains(allowed, p.Str(f)) {
			if _, ok := p[f]; ok {
				bad(f, []string{"values", f}, "%s=%q, the document allows %q", f, p.Str(f), allowed)
			}
		}
	}
	if !uuidPattern.MatchString(p.Str("uuid")) {
		bad("uuid", []string{"common"}, "uuid %q is not a UUID", p.Str("uuid"))
	}
	us, err := strconv.ParseInt(p.Str("timestamp"), 10, 64)
	if err != nil {
		bad("timestamp", []string{"timestamp_unit"}, "timestamp %q is not an integer", p.Str("timestamp"))
	} else if d := time.UnixMicro(us).Sub(now); d > 24*time.Hour || d < -24*time.Hour {
		bad("timestamp", []string{"timestamp_unit"}, "timestamp %d is not microseconds since the epoch near now (%s off)", us, d)
	}
	if !c.Form {
		for _, k := range []string{"caller", "callee", "destination", "domain_id", "account_id"} {
			switch v := p[k].(type) {
			case json.Number:
				if s := v.String(); s[0] == '0' || len(s) > 15 || strings.ContainsAny(s, ".eE+-") {
					bad(k, []string{"common"}, "%s=%s as a JSON number loses digits", k, s)
				}
			case string:
				if regexp.MustCompile(`^[1-9][0-9]{0,14}$`).MatchString(v) {
					bad(k, []string{"common"}, "%s=%q: a plain number, the document writes it as a JSON number", k, v)
				}
			}
		}
	}
	if c.Profile == "legacy" {
		if _, ok := p["cdr"]; ok {
			errs = append(errs, c.legacyCDR(p))
		}
	}
	return errors.Join(errs...)
}

func (c *Bulutfon) legacyCDR(p Payload) error {
	rule := c.Rules.Profiles["legacy"].CDR
	var errs []error
	get := func(k string) (string, bool) {
		if c.Form {
			m, _ := p["cdr"].(map[string]string)
			v, ok := m["cdr["+k+"]"]
			return v, ok
		}
		m, _ := p["cdr"].(map[string]any)
		v, ok := m[k]
		if n, isNum := v.(json.Number); isNum {
			return n.String(), ok
		}
		s, _ := v.(string)
		return s, ok
	}
	for _, f := range rule.Fields {
		if f == "callflow" {
			continue
		}
		v, ok := get(f)
		if !ok {
			errs = append(errs, fail(c.ix, "cdr", fixtures.Quote{}, fmt.Errorf("cdr lacks %q", f), "profiles", "legacy", "cdr", "fields"))
			continue
		}
		if allowed, ok := rule.Values[f]; ok && !slices.Contains(allowed, v) {
			errs = append(errs, fail(c.ix, "cdr", fixtures.Quote{}, fmt.Errorf("cdr %s=%q, the document allows %q", f, v, allowed), "profiles", "legacy", "cdr", "values", f))
		}
		if strings.HasSuffix(f, "_time") && v != "" {
			if _, err := time.Parse(rule.Layout, v); err != nil {
				errs = append(errs, fail(c.ix, "cdr", fixtures.Quote{}, fmt.Errorf("cdr %s=%q is not RFC 3339 with an offset", f, v), "profiles", "legacy", "cdr", "time_layout"))
			}
		}
	}
	if !c.Form {
		m, _ := p["cdr"].(map[string]any)
		flow, _ := m["callflow"].([]any)
		if len(flow) == 0 {
			errs = append(errs, errors.New("cdr has no callflow"))
		}
		for i, st := range flow {
			o, _ := st.(map[string]any)
			for _, f := range rule.Callflow.Fields {
				if _, ok := o[f]; !ok {
					errs = append(errs, fmt.Errorf("callflow[%d] lacks %q", i, f))
				}
			}
			for k := range o {
				if !slices.Contains(rule.Callflow.Fields, k) && !slices.Contains(rule.Callflow.Optional, k) {
					errs = append(errs, fmt.Errorf("callflow[%d] carries undocumented %q", i, k))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// BulutfonEvent is one expected event.
type BulutfonEvent struct {
	Type                string
	Caller, Callee      string
	Direction           string
	Destination         string
	Talk                *time.Duration // call_hangup
	Success             bool           // call_hangup: result_disposition SUCCESS
	ScenarioExpectIndex int
}

// ExpectedEvents maps a scenario's vendor-neutral expectations onto the
// Bulutfon events the documents call for: call_init when the call starts;
// a landing when it reaches an extension directly or a group (a queue);
// fax_init ("Gelen Faks", with the common fields of its example) when the
// PBX receives a fax on the call; call_hangup when it ends (a link ended by
// a transfer is not the call's end); missing_call after an inbound call no
// extension or number answered. A fax the PBX took is such a call: the
// legacy document's missing_call example is a call a menu answered
// (callflow CONNECTING_TO_MENU with an answer_time) that reached no one.
func (c *Bulutfon) ExpectedEvents(sc *scenario.Scenario) []BulutfonEvent {
	legacy := c.Profile == "legacy"
	extName, groupName := "incoming_call_extension", "incoming_call_group"
	if legacy {
		extName, groupName = "call_init_extension", "call_init_group"
	}
	// Where each DID of the simulator's topology lands: a queue or a ring
	// group is a group (destination: its number); an IVR is a menu.
	topo := pbx.DefaultTopology()
	groups := map[string]string{}
	for _, q := range topo.Queues {
		groups[q.DID] = q.Number
	}
	for _, g := range topo.RingGroups {
		groups[g.DID] = g.Number
	}
	menus := map[string]bool{}
	for _, m := range topo.IVRs {
		menus[m.DID] = true
	}
	menuName := "call_init_menu"
	// Bulutfon's hooks are about calls to and from outside: internal
	// calls and barges call for nothing.
	exps := outsideOnly(sc.Expect)
	inbound := !slices.ContainsFunc(exps, func(e scenario.Expect) bool { return e.Event == "dialing" })
	var out []BulutfonEvent
	party := func(e scenario.Expect) (string, string, string) {
		if inbound {
			return e.External, e.DID, "IN"
		}
		return e.User, e.External, "OUT"
	}
	last := ""
	transferred := false // a link of the call ended by transfer
	for i, e := range sc.Expect {
		if e.IsLocal() {
			continue
		}
		if e.IsStatus() {
			// Extension and queue status changes have no Bulutfon event.
			continue
		}
		caller, callee, dir := party(e)
		ev := BulutfonEvent{Caller: caller, Callee: callee, Direction: dir, ScenarioExpectIndex: i}
		if len(out) == 0 {
			first := ev
			first.Type = "call_init"
			out = append(out, first)
		}
		if inbound && menus[e.DID] && last == "" {
			// The call reached the menu before anything rang. The menu's
			// name is the PBX's own (its dialplan context), so the
			// destination is not compared.
			menu := ev
			menu.Type = menuName
			out = append(out, menu)
			last = menuName
		}
		switch e.Event {
		case "fax":
			ev.Type = "fax_init"
			out = append(out, ev)
		case "ringing":
			if !inbound {
				continue
			}
			dest, typ := e.User, extName
			// A transfer rings its target directly: that landing is
			// the extension's even when the call came in to a group.
			if g, ok := groups[e.DID]; ok && !transferred {
				dest, typ = g, groupName
			}
			if key := typ + dest; key != last {
				last = key
				ev.Type, ev.Destination = typ, dest
				out = append(out, ev)
			}
		case "ended":
			if e.Transferred {
				transferred = true
				continue
			}
			// "menü dinlenmesi de konuşma süresi sayılacaktır": menu
			// listening counts as talk time.
			talk := e.Talk.D() + e.Listened.D()
			ev.Type, ev.Talk, ev.Success = "call_hangup", &talk, e.Finish == "ok"
			out = append(out, ev)
			if inbound && e.Finish == "missed" {
				miss := ev
				miss.Type, miss.Talk = "missing_call", nil
				out = append(out, miss)
			}
		}
	}
	return out
}

// Expected checks reqs against the scenario's expected events one by one.
func (c *Bulutfon) Expected(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) error {
	want := c.ExpectedEvents(sc)
	var got []Payload
	var names []string
	for _, r := range reqs {
		p, err := c.Decode(r)
		if err != nil {
			return err
		}
		got = append(got, p)
		names = append(names, p.Str("event_type"))
	}
	if len(got) != len(want) {
		var wn []string
		for _, w := range want {
			wn = append(wn, w.Type)
		}
		return fmt.Errorf("%s: %d requests %v, want %d %v", sc.Name, len(got), names, len(want), wn)
	}
	var errs []error
	uuid := ""
	for i, w := range want {
		p := got[i]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s request %d (%s): %s", sc.Name, i+1, w.Type, fmt.Sprintf(format, args...)))
		}
		if p.Str("event_type") != w.Type {
			bad("event_type=%s", p.Str("event_type"))
		}
		if w.Caller != "" && p.Str("caller") != w.Caller {
			bad("caller=%s, want %s", p.Str("caller"), w.Caller)
		}
		if w.Callee != "" && p.Str("callee") != w.Callee {
			bad("callee=%s, want %s", p.Str("callee"), w.Callee)
		}
		if p.Str("direction") != w.Direction {
			bad("direction=%s, want %s", p.Str("direction"), w.Direction)
		}
		if w.Destination != "" && p.Str("destination") != w.Destination {
			bad("destination=%s, want %s", p.Str("destination"), w.Destination)
		}
		if i == 0 {
			uuid = p.Str("uuid")
		} else if p.Str("uuid") != uuid {
			bad("uuid %s differs from the call's %s", p.Str("uuid"), uuid)
		}
		if w.Type == "call_hangup" && c.Profile != "legacy" {
			d, err := strconv.Atoi(p.Str("talk_duration"))
			if err != nil {
				bad("talk_duration=%q is not whole seconds", p.Str("talk_duration"))
			} else if diff := time.Duration(d)*time.Second - *w.Talk; diff > tolerance || diff < -tolerance {
				bad("talk_duration=%d s, want %s ± %s", d, *w.Talk, tolerance)
			}
			wantDisp := ""
			if w.Success {
				wantDisp = "SUCCESS"
			}
			if p.Str("result_disposition") != wantDisp {
				bad("result_disposition=%q, want %q", p.Str("result_disposition"), wantDisp)
			}
		}
	}
	return errors.Join(errs...)
}

// The dialect's conformance entry.
func init() {
	// Bulutfon: each encoding with each profile, as the documents offer.
	var variants []Variant
	byOptions := map[[2]string]*Bulutfon{}
	for _, v := range []struct{ format, profile string }{
		{"json", "current"}, {"form", "current"}, {"json", "legacy"}, {"form", "legacy"},
	} {
		rules, err := NewBulutfon(v.profile, v.format == "form")
		if err != nil {
			panic(err)
		}
		byOptions[[2]string{v.format, v.profile}] = rules
		variants = append(variants, Variant{
			Name:    v.format + "-" + v.profile,
			Options: map[string]string{"format": v.format, "profile": v.profile},
			Check: func(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) []error {
				errs := []error{rules.Expected(sc, reqs, tolerance)}
				for _, r := range reqs {
					errs = append(errs, rules.Request(r, Now())...)
				}
				return errs
			},
		})
	}
	Register(Dialect{Name: "bulutfon", Variants: variants, Request: func(opts map[string]string, r Request) []error {
		// The dialect's defaults: JSON, the current document.
		format, profile := cmp.Or(opts["format"], "json"), cmp.Or(opts["profile"], "current")
		rules, ok := byOptions[[2]string{format, profile}]
		if !ok {
			return []error{fmt.Errorf("no bulutfon rules for format %q, profile %q", format, profile)}
		}
		return rules.Request(r, Now())
	}})
}
