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
	Line   int       `yaml:"-"`
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
	Event       string   `yaml:"event"` // ringing | dialing | answered | ended
	User        string   `yaml:"user"`
	UserType    string   `yaml:"usertype"` // ext | queue | other (ringing); default ext
	External    string   `yaml:"external"`
	DID         string   `yaml:"did"`
	Link        int      `yaml:"link"`
	Finish      string   `yaml:"finish"`   // ok | missed (ended)
	Transfer    string   `yaml:"transfer"` // none | blind | attended (answered)
	Transferred bool     `yaml:"transferred"`
	Talk        Duration `yaml:"talk"` // ended, answered calls
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
		if n != 1 {
			bad(st.Line, "a step needs exactly one of call, wait, pause, hangup")
		}
	}
	for i, e := range sc.Expect {
		switch e.Event {
		case "ringing", "dialing", "answered", "ended":
		default:
			bad(1, "expect[%d]: event %q (want ringing, dialing, answered or ended)", i, e.Event)
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
