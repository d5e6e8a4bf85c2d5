package check

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/fixtures"
	fvoipex "github.com/callhook/callhook/fixtures/voipex"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// VOIPEX checks requests against the VOIPEX platform's documented webhooks.
type VOIPEX struct {
	Rules *fvoipex.Rules
	id    *regexp.Regexp
	// ix finds a rule's line in the rules file, for Failures.
	ix *fixtures.Index
}

// NewVOIPEX loads the rules.
func NewVOIPEX() (*VOIPEX, error) {
	r, err := fvoipex.Load()
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(r.UniqueID.Pattern)
	if err != nil {
		return nil, fmt.Errorf("voipex rules: unique_id pattern: %w", err)
	}
	ix, err := fvoipex.Index()
	if err != nil {
		return nil, err
	}
	return &VOIPEX{Rules: r, id: re, ix: ix}, nil
}

// Body decodes a VOIPEX request's JSON body. Every value but the CDR's
// numbers and file list is a string.
func (c *VOIPEX) Body(r Request) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, fail(c.ix, "", c.Rules.Doc["body"], fmt.Errorf("%s: body is not a JSON object: %w (%q)", r, err, r.Body), "transport", "body")
	}
	return m, nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Request runs the rules one request must keep by itself: Transport and
// Fields.
func (c *VOIPEX) Request(r Request) []error {
	return []error{c.Transport(r), c.Fields(r)}
}

// Transport: "HTTP POST", "formát JSON": one POST per event, the fields in
// a JSON object body, nothing in the query.
func (c *VOIPEX) Transport(r Request) error {
	if r.Method != c.Rules.Transport.Method {
		return fail(c.ix, "", c.Rules.Doc["transport"], fmt.Errorf("%s: method %s, the document says %s", r, r.Method, c.Rules.Transport.Method), "transport", "method")
	}
	if r.RawQuery != "" {
		return fail(c.ix, "", c.Rules.Doc["body"], fmt.Errorf("%s: fields in the query; the document sends them as JSON", r), "transport", "body")
	}
	_, err := c.Body(r)
	return err
}

// Fields: EventName is one the document lists; every field is one the
// document lists (a CDR also the record's fields); call events carry the
// call's UniqueId in the example's form and a listed Direction; Reason
// (why the call ended) only on Hangup; agent events name the agent's Line.
func (c *VOIPEX) Fields(r Request) error {
	m, err := c.Body(r)
	if err != nil {
		return err
	}
	doc := c.Rules.Doc
	name := str(m, "EventName")
	if _, ok := c.Rules.Events[name]; !ok {
		return fail(c.ix, "EventName", doc["events"], fmt.Errorf("%s: EventName %q is not one the document lists", r, name), "events")
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		_, documented := c.Rules.Fields[k]
		cdr := name == "CDR" && slices.Contains(c.Rules.CDRFields, k)
		if !documented && !cdr {
			errs = append(errs, fail(c.ix, k, doc["fields"], fmt.Errorf("%s: %s carries undocumented field %q", r, name, k), "fields"))
		}
		if _, ok := m[k].(string); documented && !ok {
			errs = append(errs, fail(c.ix, k, doc[k], fmt.Errorf("%s: %s=%v is not a string", r, k, m[k]), "fields", k))
		}
	}
	if slices.Contains(c.Rules.CallEvents, name) {
		if id := str(m, "UniqueId"); !c.id.MatchString(id) {
			errs = append(errs, fail(c.ix, "UniqueId", doc["UniqueId"], fmt.Errorf("%s: UniqueId %q is not of the document's form (%s)", r, id, c.Rules.UniqueID.Example), "unique_id", "pattern"))
		}
		if d := str(m, "Direction"); !slices.Contains(c.Rules.Directions, d) {
			errs = append(errs, fail(c.ix, "Direction", doc["Direction"], fmt.Errorf("%s: Direction %q, the document lists %v", r, d, c.Rules.Directions), "directions"))
		}
	}
	if _, has := m["Reason"]; has && !slices.Contains(c.Rules.ReasonEvents, name) && !slices.Contains(c.Rules.AgentEvents, name) {
		errs = append(errs, fail(c.ix, "Reason", doc["Reason"], fmt.Errorf("%s: %s carries Reason, which says why a call ended", r, name), "reason_events"))
	}
	if name == "Hangup" && str(m, "Reason") == "" {
		errs = append(errs, fail(c.ix, "Reason", doc["Reason"], fmt.Errorf("%s: Hangup without Reason", r), "reason_events"))
	}
	if slices.Contains(c.Rules.AgentEvents, name) && str(m, "Line") == "" {
		errs = append(errs, fail(c.ix, "Line", doc["Line"], fmt.Errorf("%s: %s names no agent (Line)", r, name), "agent_events"))
	}
	return errors.Join(errs...)
}

// Chain: every call event of one call carries the same UniqueId ("id
// hovoru"), across transfers.
func (c *VOIPEX) Chain(reqs []Request) error {
	first := ""
	for _, r := range reqs {
		m, err := c.Body(r)
		if err != nil {
			return err
		}
		if !slices.Contains(c.Rules.CallEvents, str(m, "EventName")) || str(m, "Direction") == "barge" {
			continue
		}
		id := str(m, "UniqueId")
		if first == "" {
			first = id
		} else if id != first {
			return fmt.Errorf("%s: UniqueId %s differs from the call's %s", r, id, first)
		}
	}
	return nil
}

// VOIPEXWant is one expected VOIPEX webhook.
type VOIPEXWant struct {
	Event, From, To, Line, Direction, Queue string
	Transferred                             bool          // Hangup: the link ended by a transfer
	Answered                                bool          // CDR: the call was answered
	Talk                                    time.Duration // CDR: billable seconds of the last link
}

func (w VOIPEXWant) String() string { return w.Event + " " + w.Line }

// VOIPEXExtra lists, per scenario, the VOIPEX events the vendor-neutral
// expectations cannot say: a cancelled attended transfer is an event of
// its own in VOIPEX ("zrušení přepojení s konzultací") but changes none of
// the call's other moments. Each entry is inserted before the expectation
// at Before (0-based, in the scenario's expect list).
var VOIPEXExtra = map[string][]struct {
	Before int
	Want   VOIPEXWant
}{
	"attended-transfer-cancelled":         {{Before: 2, Want: VOIPEXWant{Event: "CancelAttendedTransfer", Line: "101", To: "103"}}},
	"attended-transfer-feature-cancelled": {{Before: 2, Want: VOIPEXWant{Event: "CancelAttendedTransfer", Line: "101", To: "103"}}},
}

// VOIPEXExpect maps a scenario's vendor-neutral expectations onto VOIPEX
// events: the call starts with NewCall (an outbound call's dialing is that
// NewCall), ringing, answered and ended are Ringing, Answered and Hangup,
// a link answered by attended transfer follows an AttendedTransfer, and the
// stored call record (CDR) follows the call's last moment. Queue logins and
// memberships are AgentLogin / AgentLogout; a member's change in one queue
// is its pause (the scenarios pause members, "pausing in one queue is
// logging out of that queue"): AgentPaused / AgentUnPaused. Forwarding and
// extension changes have no VOIPEX event.
//
// Each kind of call a scenario's expectations are about (Expect.Direction)
// is a VOIPEX call of its own, with its own NewCall and CDR: the call to or
// from outside (incoming / outgoing), an internal call and a barge. In an
// internal call the caller's events (NewCall, CDR) are outgoingLocal and
// the called extension's incomingLocal, From the caller and To the called
// extension on every one; a barge is From the supervisor To the extension
// listened in on, Direction barge.
func VOIPEXExpect(sc *scenario.Scenario) []VOIPEXWant {
	calls := map[string]*voipexCall{}
	for i, e := range sc.Expect {
		if e.IsStatus() {
			continue
		}
		c := calls[e.Direction]
		if c == nil {
			c = &voipexCall{kind: e.Direction, first: i, inbound: true}
			calls[e.Direction] = c
		}
		c.last = i
		if e.Event == "dialing" {
			c.inbound = false
			if c.caller == "" {
				c.caller = e.User
			}
		}
	}
	if c := calls[scenario.DirectionInternal]; c != nil && c.caller == "" {
		// No dialing moment expected: the first event is about the
		// called extension, and names the caller as the other party.
		c.caller = sc.Expect[c.first].External
	}
	var out []VOIPEXWant
	extra := VOIPEXExtra[sc.Name]
	for i, e := range sc.Expect {
		if e.IsStatus() {
			if w, ok := agentWant(e); ok {
				out = append(out, w)
			}
			continue
		}
		c := calls[e.Direction]
		for _, x := range extra {
			if x.Before == i {
				w := x.Want
				w.From, _, w.Direction = c.parties(e)
				out = append(out, w)
			}
		}
		from, to, dir := c.parties(e)
		w := VOIPEXWant{From: from, To: to, Line: e.User, Direction: dir}
		if e.UserType == "queue" {
			w.Queue = "*"
		}
		if i == c.first {
			out = append(out, c.newCall(w))
		}
		switch e.Event {
		case "dialing":
			continue
		case "fax":
			// VOIPEX has no fax event; the PBX answered the call, so
			// its record says answered.
			c.answered = true
			continue
		case "ringing":
			w.Event = "Ringing"
		case "answered":
			w.Event = "Answered"
			c.answered = true
			if e.Transfer == "attended" {
				// The transfer completes before the target's link starts.
				prev := out[len(out)-1]
				at := VOIPEXWant{Event: "AttendedTransfer", From: from, Line: prev.Line, To: e.User, Direction: dir}
				out = slices.Insert(out, len(out)-1, at)
			}
		case "ended":
			w.Event = "Hangup"
			w.Transferred = e.Transferred
			c.talk = e.Talk.D()
			if c.kind == "" && c.inbound && e.Finish == "missed" && e.User == queueOf(sc, e) {
				w.Line = ""
			}
		}
		out = append(out, w)
		if i == c.last {
			out = append(out, c.cdr(w))
		}
	}
	return out
}

// voipexCall is one call of a scenario as VOIPEX reports it: the call to or
// from outside (kind ""), the internal call or the barge.
type voipexCall struct {
	kind        string // Expect.Direction
	first, last int    // its first and last expectation
	inbound     bool   // no dialing moment: the call came in
	caller      string // internal: the extension that called
	answered    bool
	talk        time.Duration // the last link's
}

// parties are the From, To and Direction of an event about e.
func (c *voipexCall) parties(e scenario.Expect) (from, to, dir string) {
	switch c.kind {
	case scenario.DirectionInternal:
		if e.User == c.caller {
			return e.User, e.External, "outgoingLocal"
		}
		return e.External, e.User, "incomingLocal"
	case scenario.DirectionBarge:
		return e.User, e.External, "barge"
	}
	if c.inbound {
		return e.External, e.DID, "incoming"
	}
	return e.User, e.External, "outgoing"
}

// newCall is the call's NewCall, given the want of its first moment: an
// incoming call has reached no extension yet (no Line); an internal call's
// is the caller's (outgoingLocal).
func (c *voipexCall) newCall(first VOIPEXWant) VOIPEXWant {
	nc := first
	nc.Event, nc.Queue = "NewCall", ""
	switch {
	case c.kind == scenario.DirectionInternal:
		nc.Line, nc.Direction = c.caller, "outgoingLocal"
	case c.kind == "" && c.inbound:
		nc.Line = ""
	}
	return nc
}

// cdr is the call's CDR, given the want of its last moment: an internal
// call's record is about the call as the caller started it.
func (c *voipexCall) cdr(last VOIPEXWant) VOIPEXWant {
	w := VOIPEXWant{Event: "CDR", From: last.From, To: last.To, Line: last.Line, Direction: last.Direction,
		Answered: c.answered, Talk: c.talk}
	if c.kind == scenario.DirectionInternal {
		w.Line, w.Direction = c.caller, "outgoingLocal"
	}
	return w
}

// agentWant maps a status expectation onto the VOIPEX agent event, if any.
func agentWant(e scenario.Expect) (VOIPEXWant, bool) {
	in := e.Status == "login"
	pick := func(yes, no string) string {
		if in {
			return yes
		}
		return no
	}
	w := VOIPEXWant{Line: e.User, Queue: e.Queue}
	switch e.Event {
	case "queueloginchanged":
		w.Event = pick("AgentLogin", "AgentLogout")
	case "queuememberloginchanged":
		w.Event = pick("AgentUnPaused", "AgentPaused")
	case "agentadded":
		w.Event = "AgentLogin"
	case "agentremoved":
		w.Event = "AgentLogout"
	default:
		return w, false
	}
	return w, true
}

// queueOf is the user a call missed at queue level is reported with: the
// queue's number, which is no phone that rang although phones rang.
func queueOf(sc *scenario.Scenario, e scenario.Expect) string {
	rang := false
	for _, x := range sc.Expect {
		if x.Event == "ringing" && !x.IsLocal() {
			if x.User == e.User {
				return ""
			}
			rang = true
		}
	}
	if !rang {
		return ""
	}
	return e.User
}

// Expected checks reqs against the scenario's expectations mapped onto
// VOIPEX events, one by one: EventName, From, To, Line, Direction, Queue;
// Hangup's Reason; the CDR's disposition and billable time.
func (c *VOIPEX) Expected(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) error {
	return c.ExpectedWants(sc.Name, VOIPEXExpect(sc), reqs, tolerance)
}

// ExpectedWants checks reqs against wants (VOIPEXExpect's, or a part of
// them) as Expected does; name names the scenario in errors.
func (c *VOIPEX) ExpectedWants(name string, wants []VOIPEXWant, reqs []Request, tolerance time.Duration) error {
	var bodies []map[string]any
	var got []string
	for _, r := range reqs {
		m, err := c.Body(r)
		if err != nil {
			return err
		}
		bodies = append(bodies, m)
		got = append(got, str(m, "EventName")+" "+str(m, "Line"))
	}
	if len(bodies) != len(wants) {
		return fmt.Errorf("%s: %d requests %v, the scenario expects %d %v", name, len(bodies), got, len(wants), wants)
	}
	// The call's events keep their order, and each agent's; an agent's
	// events and the call's are delivered independently of each other
	// (ordered per call and per agent, as every receiver's are).
	// A barge is a call of its own beside the call listened in on.
	stream := func(event, line, dir string) string {
		switch {
		case slices.Contains(c.Rules.AgentEvents, event):
			return "agent " + line
		case dir == "barge":
			return "barge " + line
		}
		return "call"
	}
	streams := map[string][]map[string]any{}
	for _, m := range bodies {
		k := stream(str(m, "EventName"), str(m, "Line"), str(m, "Direction"))
		streams[k] = append(streams[k], m)
	}
	bodies = bodies[:0:0]
	for _, w := range wants {
		k := stream(w.Event, w.Line, w.Direction)
		if len(streams[k]) == 0 {
			return fmt.Errorf("%s: requests %v lack %s of the %s", name, got, w, k)
		}
		bodies = append(bodies, streams[k][0])
		streams[k] = streams[k][1:]
	}
	var errs []error
	for i, w := range wants {
		m := bodies[i]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s request %d (%s): %s", name, i+1, w, fmt.Sprintf(format, args...)))
		}
		eq := func(field, want string) {
			if want != "" && str(m, field) != want {
				bad("%s=%q, want %q", field, str(m, field), want)
			}
		}
		eq("EventName", w.Event)
		eq("From", w.From)
		eq("To", w.To)
		eq("Direction", w.Direction)
		if w.Event != "CDR" {
			if str(m, "Line") != w.Line {
				bad("Line=%q, want %q", str(m, "Line"), w.Line)
			}
		}
		switch w.Queue {
		case "":
		case "*":
			if str(m, "Queue") == "" {
				bad("a phone rung by a queue, without Queue")
			}
		default:
			eq("Queue", w.Queue)
		}
		switch w.Event {
		case "Hangup":
			reason := str(m, "Reason")
			if w.Transferred && !strings.HasSuffix(reason, "_TRANSFER") {
				bad("Reason=%q for a link ended by transfer", reason)
			}
		case "CDR":
			disp := str(m, "Disposition")
			if w.Answered != (disp == "ANSWERED") {
				bad("Disposition=%q, answered %t", disp, w.Answered)
			}
			if str(m, "StartTime") == "" || str(m, "EndTime") == "" {
				bad("no StartTime/EndTime")
			}
			if w.Answered {
				bill, _ := m["BillableSeconds"].(float64)
				if time.Duration(bill)*time.Second < w.Talk-tolerance {
					bad("BillableSeconds=%v, shorter than the last link's %s", bill, w.Talk)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Users: Login and Email are those of the user at the extension in Line
// ("login/email volaného (pokud je dostupný)"; the document's example pairs
// Line 444 with petr.novak), as the extension directory gives them, and
// absent when there is no Line or the directory does not name its user.
func (c *VOIPEX) Users(r Request, dir map[string]config.Extension) error {
	m, err := c.Body(r)
	if err != nil {
		return err
	}
	var want config.Extension
	if line := str(m, "Line"); line != "" {
		want = dir[line]
	}
	var errs []error
	if got := str(m, "Login"); got != want.Login {
		errs = append(errs, fmt.Errorf("%s: %s Line %q: Login %q, the directory says %q", r, str(m, "EventName"), str(m, "Line"), got, want.Login))
	}
	if got := str(m, "Email"); got != want.Email {
		errs = append(errs, fmt.Errorf("%s: %s Line %q: Email %q, the directory says %q", r, str(m, "EventName"), str(m, "Line"), got, want.Email))
	}
	return errors.Join(errs...)
}

// Auth: "login/heslo - přihlašovací údaje pro http basic authentication":
// given a login and password, every request carries them as HTTP basic
// auth (RFC 7617: "Basic " and base64 of login:password).
func (c *VOIPEX) Auth(r Request, login, password string) error {
	if c.Rules.Transport.Auth != "basic" {
		return fmt.Errorf("voipex rules: auth %q, want basic", c.Rules.Transport.Auth)
	}
	h := r.Header.Get("Authorization")
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return fmt.Errorf("%s: Authorization %q is not HTTP basic auth", r, h)
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("%s: Authorization %q: %w", r, h, err)
	}
	if string(dec) != login+":"+password {
		return fmt.Errorf("%s: basic auth credentials %q, want %q", r, dec, login+":"+password)
	}
	return nil
}

// The dialect's conformance entry.
func init() {
	vpx, err := NewVOIPEX()
	if err != nil {
		panic(err)
	}
	Register(Dialect{Name: "voipex", Variants: []Variant{{
		Check: func(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) []error {
			reqs = InRingingOrder(sc, reqs, VOIPEXRinging)
			errs := []error{vpx.Expected(sc, reqs, tolerance), vpx.Chain(reqs)}
			for _, r := range reqs {
				errs = append(errs, vpx.Request(r)...)
			}
			return errs
		},
	}}, Request: func(_ map[string]string, r Request) []error { return vpx.Request(r) }})
}
