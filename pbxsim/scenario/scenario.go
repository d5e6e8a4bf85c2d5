// Package scenario reads call-flow scripts (YAML) and plays them with
// pbxsim's scripted phones against a PBX. A scenario says which phones do
// what, the steps of the flow, and what a webhook engine watching the PBX
// must report, in vendor-neutral terms.
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario is one scripted call flow.
type Scenario struct {
	Name    string               `yaml:"name"`
	Summary string               `yaml:"summary"`
	Phones  map[string]PhoneSpec `yaml:"phones"`
	Steps   []Step               `yaml:"steps"`
	Expect  []Expect             `yaml:"expect"`
	// Pending names what the engine still lacks to report this scenario
	// as its expectations say; conformance suites list the scenario as
	// pending (not passed) while it is set. The simulator plays it anyway.
	Pending string `yaml:"pending"`
	// File names where the scenario was read from, for error messages.
	File string `yaml:"-"`
}

// PhoneSpec is how one extension's phones behave when they ring. With
// neither field set a phone never answers.
type PhoneSpec struct {
	AnswerAfter Duration `yaml:"answer_after"` // answer this long after ringing starts
	Reject      int      `yaml:"reject"`       // answer with this SIP status (486, 603, ...)
	line        int
}

// Step is one action of the flow; exactly one field is set.
type Step struct {
	Call   *CallStep `yaml:"call"`
	Wait   *WaitStep `yaml:"wait"`
	Pause  Duration  `yaml:"pause"`
	Hangup string    `yaml:"hangup"` // the id of the call to hang up
	// Transfer hands a call's other party on (REFER), blind or attended.
	Transfer *TransferStep `yaml:"transfer"`
	// Hold and Unhold put a phone's side of a call on hold and back
	// (re-INVITE sendonly / sendrecv).
	Hold   *LegStep `yaml:"hold"`
	Unhold *LegStep `yaml:"unhold"`
	// Reconnect drops a phone's side of a call and brings it back with
	// an INVITE carrying Replaces (a mobile app back on the network).
	Reconnect *LegStep `yaml:"reconnect"`
	// T38 switches a call to T.38 fax (re-INVITE with m=image udptl t38).
	T38 *LegStep `yaml:"t38"`
	// Drop hangs up one phone's side of a call (By's BYE), as a
	// transferer does to complete an attended transfer it started with a
	// feature code; hangup ends the call from the phone that placed it.
	Drop *LegStep `yaml:"drop"`
	// DTMF sends key presses on a call.
	DTMF *DTMFStep `yaml:"dtmf"`
	// Admin changes the PBX's configuration (forwarding, extensions).
	Admin *AdminStep `yaml:"admin"`
	// Agent logs a queue agent in or out, or pauses them.
	Agent *AgentStep `yaml:"agent"`
	// Originate asks the PBX over its manager interface to place a call
	// from an extension (AMI Originate), as a CRM's click-to-call does.
	Originate *OriginateStep `yaml:"originate"`
	Line      int            `yaml:"-"`
}

// LegStep names one phone's side of a call: By is the extension whose
// phone acts. Left out, it is the phone that placed the call.
type LegStep struct {
	Call string `yaml:"call"`
	By   string `yaml:"by"`
}

// TransferStep transfers a call. With To it is blind (REFER to To); with
// Attended it is attended: the phone's consultation call Attended
// (placed from the same extension) replaces it (REFER with Replaces).
// Fails says the PBX is expected to refuse (a consultation that has not
// been answered): the step then succeeds only if the transfer fails.
type TransferStep struct {
	Call     string `yaml:"call"`
	By       string `yaml:"by"`
	To       string `yaml:"to"`
	Attended string `yaml:"attended"`
	Fails    bool   `yaml:"fails"`
}

// DTMFStep presses keys on a call: Method rfc4733 (default, in the RTP
// stream) or info (SIP INFO).
type DTMFStep struct {
	Call   string `yaml:"call"`
	By     string `yaml:"by"`
	Digits string `yaml:"digits"`
	Method string `yaml:"method"`
}

// AdminStep is one administrative change, as an administrator makes it
// on the PBX: Action forwarding-on (Ext forwards to Destination),
// forwarding-off, extension-create (Ext with Name), extension-delete.
type AdminStep struct {
	Action      string `yaml:"action"`
	Ext         string `yaml:"ext"`
	Destination string `yaml:"destination"`
	Name        string `yaml:"name"`
}

// OriginateStep places call ID from extension Ext's device to To
// through the PBX (Originate Channel: PJSIP/<Ext>, Exten: <To>).
type OriginateStep struct {
	ID  string `yaml:"id"`
	Ext string `yaml:"ext"`
	To  string `yaml:"to"`
}

// AgentStep changes an agent's queue state: Action login or logout
// (every queue, or Queue only), pause or unpause (with Reason) in Queue
// or, Queue left out, in every queue.
type AgentStep struct {
	Action string `yaml:"action"`
	Ext    string `yaml:"ext"`
	Queue  string `yaml:"queue"`
	Reason string `yaml:"reason"`
}

// CallStep places a call from outside (a trunk-side caller) or from an
// extension.
type CallStep struct {
	ID   string `yaml:"id"`
	From string `yaml:"from"` // caller number; an extension's number places the call from its phone
	Name string `yaml:"name"` // caller display name
	To   string `yaml:"to"`   // number dialled
}

// WaitStep waits until a call reaches a state.
type WaitStep struct {
	Call   string   `yaml:"call"`
	For    string   `yaml:"for"`    // ringing | answered | ended
	Within Duration `yaml:"within"` // scenario time; default 60s
}

// Expect is one event a webhook engine must report, in order.
type Expect struct {
	// Event is ringing | dialing | answered | ended, fax (the PBX itself
	// answers the call and receives a fax on it: no extension takes
	// part), or a status event.
	Event string `yaml:"event"`
	// Direction says what kind of call the event is about when it is not
	// a call to or from outside: internal (extension to extension; User
	// is the extension the event is about, External the other one) or
	// barge (a supervisor, User, listening in on extension External's
	// call). Dialects that report neither send nothing for such events.
	Direction string `yaml:"direction"`
	User      string `yaml:"user"`
	// UserType is ext | queue | other: for ringing, who rings (default
	// ext); for ended, other says the call ended where no extension or
	// queue had it (the PBX's own fax or a menu).
	UserType    string   `yaml:"usertype"`
	External    string   `yaml:"external"`
	DID         string   `yaml:"did"`
	Link        int      `yaml:"link"`
	Finish      string   `yaml:"finish"`   // ok | missed (ended)
	Transfer    string   `yaml:"transfer"` // none | blind | attended (answered)
	Transferred bool     `yaml:"transferred"`
	Talk        Duration `yaml:"talk"` // ended, answered calls
	// Listened is the time the caller spent in voice menus before the
	// call ended (ended); dialects that count menu listening as talk
	// time (Bulutfon) add it.
	Listened Duration `yaml:"listened"`
	// Status events (no call id): status (on/off, login/logout,
	// created/deleted), queue, destination, name, reason.
	Status      string `yaml:"status"`
	Queue       string `yaml:"queue"`
	Destination string `yaml:"destination"`
	Name        string `yaml:"name"`
	Reason      string `yaml:"reason"`
}

// Expectation directions (Expect.Direction); left out, the call is to or
// from outside the PBX.
const (
	DirectionInternal = "internal"
	DirectionBarge    = "barge"
)

// IsLocal reports whether e is about an internal call or a barge: a call
// that never leaves the PBX.
func (e Expect) IsLocal() bool { return e.Direction != "" }

// IsPBXOnly reports whether e is about a call no extension or queue had:
// the PBX's own fax receiving it, or its end there (ended, usertype
// other).
func (e Expect) IsPBXOnly() bool {
	return e.Event == "fax" || (e.Event == "ended" && e.UserType == "other")
}

// StatusEvents are the expectation events that report a status change
// rather than a call.
var StatusEvents = []string{"forwardingchanged", "queueloginchanged", "queuememberloginchanged",
	"extensioncreated", "extensiondeleted", "agentadded", "agentremoved"}

// IsStatus reports whether e expects a status event.
func (e Expect) IsStatus() bool {
	for _, s := range StatusEvents {
		if e.Event == s {
			return true
		}
	}
	return false
}

// Duration is a time.Duration written as "3s", "1m30s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 3s, 1m30s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML keeps the step's line for error messages.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = Step(p)
	s.Line = n.Line
	return nil
}

// UnmarshalYAML keeps the spec's line for error messages.
func (p *PhoneSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain PhoneSpec
	var v plain
	if err := n.Decode(&v); err != nil {
		return err
	}
	*p = PhoneSpec(v)
	p.line = n.Line
	return nil
}

// ErrInvalid marks a scenario that parses but says something impossible.
var ErrInvalid = errors.New("invalid scenario")

// Parse reads one scenario; file names it in errors.
func Parse(file string, r io.Reader) (*Scenario, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sc.File = file
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func (sc *Scenario) validate() error {
	var errs []string
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s", sc.File, line, fmt.Sprintf(format, args...)))
	}
	if sc.Name == "" {
		bad(1, "name: missing")
	}
	for ext, p := range sc.Phones {
		if p.AnswerAfter != 0 && p.Reject != 0 {
			bad(p.line, "phones.%s: answer_after and reject both set", ext)
		}
		if p.Reject != 0 && (p.Reject < 400 || p.Reject > 699) {
			bad(p.line, "phones.%s: reject %d is not a SIP failure status (400-699)", ext, p.Reject)
		}
	}
	calls := map[string]bool{}
	for _, st := range sc.Steps {
		n := 0
		if st.Call != nil {
			n++
			if st.Call.ID == "" || st.Call.From == "" || st.Call.To == "" {
				bad(st.Line, "call: id, from and to are required")
			}
			if calls[st.Call.ID] {
				bad(st.Line, "call: id %q used twice", st.Call.ID)
			}
			calls[st.Call.ID] = true
		}
		if st.Wait != nil {
			n++
			if !calls[st.Wait.Call] {
				bad(st.Line, "wait: unknown call %q", st.Wait.Call)
			}
			switch st.Wait.For {
			case "ringing", "answered", "ended":
			default:
				bad(st.Line, "wait: for %q (want ringing, answered or ended)", st.Wait.For)
			}
		}
		if st.Pause != 0 {
			n++
		}
		if st.Hangup != "" {
			n++
			if !calls[st.Hangup] {
				bad(st.Line, "hangup: unknown call %q", st.Hangup)
			}
		}
		leg := func(kind, call string) {
			if !calls[call] {
				bad(st.Line, "%s: unknown call %q", kind, call)
			}
		}
		if t := st.Transfer; t != nil {
			n++
			leg("transfer", t.Call)
			switch {
			case (t.To == "") == (t.Attended == ""):
				bad(st.Line, "transfer: exactly one of to (blind) and attended (a consultation call) is required")
			case t.Attended != "":
				leg("transfer: attended", t.Attended)
				if t.Attended == t.Call {
					bad(st.Line, "transfer: attended %q is the call being transferred", t.Attended)
				}
			}
		}
		if st.Hold != nil {
			n++
			leg("hold", st.Hold.Call)
		}
		if st.Unhold != nil {
			n++
			leg("unhold", st.Unhold.Call)
		}
		if st.Reconnect != nil {
			n++
			leg("reconnect", st.Reconnect.Call)
		}
		if st.T38 != nil {
			n++
			leg("t38", st.T38.Call)
		}
		if st.Drop != nil {
			n++
			leg("drop", st.Drop.Call)
			if st.Drop.By == "" {
				bad(st.Line, "drop: by is required (the phone whose side hangs up; hangup ends a call from its caller)")
			}
		}
		if d := st.DTMF; d != nil {
			n++
			leg("dtmf", d.Call)
			if d.Digits == "" || strings.Trim(d.Digits, "0123456789*#ABCD") != "" {
				bad(st.Line, "dtmf: digits %q (want 0-9, *, #, A-D)", d.Digits)
			}
			switch d.Method {
			case "", "rfc4733", "info":
			default:
				bad(st.Line, "dtmf: method %q (want rfc4733 or info)", d.Method)
			}
		}
		if a := st.Admin; a != nil {
			n++
			if a.Ext == "" {
				bad(st.Line, "admin: ext is required")
			}
			switch a.Action {
			case "forwarding-on":
				if a.Destination == "" {
					bad(st.Line, "admin: forwarding-on needs a destination")
				}
			case "forwarding-off", "extension-delete":
			case "extension-create":
				if a.Name == "" {
					bad(st.Line, "admin: extension-create needs a name")
				}
			default:
				bad(st.Line, "admin: action %q (want forwarding-on, forwarding-off, extension-create or extension-delete)", a.Action)
			}
		}
		if o := st.Originate; o != nil {
			n++
			if o.ID == "" || o.Ext == "" || o.To == "" {
				bad(st.Line, "originate: id, ext and to are required")
			}
			if calls[o.ID] {
				bad(st.Line, "originate: id %q used twice", o.ID)
			}
			calls[o.ID] = true
		}
		if a := st.Agent; a != nil {
			n++
			if a.Ext == "" {
				bad(st.Line, "agent: ext is required")
			}
			switch a.Action {
			case "login", "logout", "pause", "unpause":
			default:
				bad(st.Line, "agent: action %q (want login, logout, pause or unpause)", a.Action)
			}
		}
		if n != 1 {
			bad(st.Line, "a step needs exactly one of call, wait, pause, hangup, drop, transfer, hold, unhold, reconnect, t38, dtmf, admin, agent, originate")
		}
	}
	for i, e := range sc.Expect {
		switch e.Event {
		case "ringing", "dialing", "answered", "ended", "fax":
		default:
			if !e.IsStatus() {
				bad(1, "expect[%d]: event %q (want ringing, dialing, answered, ended, fax or a status event: %s)", i, e.Event, strings.Join(StatusEvents, ", "))
			}
		}
		if e.Event == "fax" && (e.User != "" || e.Direction != "") {
			bad(1, "expect[%d]: fax is received by the PBX from outside: no user, no direction", i)
		}
		switch e.Direction {
		case "", DirectionInternal, DirectionBarge:
		default:
			bad(1, "expect[%d]: direction %q (want internal or barge; left out: a call to or from outside)", i, e.Direction)
		}
		if e.Direction != "" && e.IsStatus() {
			bad(1, "expect[%d]: direction %q on status event %s", i, e.Direction, e.Event)
		}
		switch e.UserType {
		case "", "ext", "queue", "other":
		default:
			bad(1, "expect[%d]: usertype %q (want ext, queue or other)", i, e.UserType)
		}
		switch e.Finish {
		case "", "ok", "missed":
		default:
			bad(1, "expect[%d]: finish %q (want ok or missed)", i, e.Finish)
		}
		switch e.Transfer {
		case "", "none", "blind", "attended":
		default:
			bad(1, "expect[%d]: transfer %q (want none, blind or attended)", i, e.Transfer)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(errs, "\n"))
	}
	return nil
}

// String describes an expectation briefly, for progress output.
func (e Expect) String() string {
	var b strings.Builder
	b.WriteString(e.Event)
	if e.Direction != "" {
		b.WriteString(" (" + e.Direction + ")")
	}
	if e.User != "" {
		b.WriteString(" user=" + e.User)
	}
	b.WriteString(" link=" + strconv.Itoa(e.Link))
	if e.Finish != "" {
		b.WriteString(" finish=" + e.Finish)
	}
	if e.Talk != 0 {
		b.WriteString(" talk=" + e.Talk.D().String())
	}
	return b.String()
}
