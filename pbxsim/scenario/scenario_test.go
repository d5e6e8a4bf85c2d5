package scenario_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/scenario"
)

const good = `
name: inbound-answered
summary: test
phones:
  "101": {answer_after: 3s}
  "102": {reject: 486}
steps:
  - call: {id: c1, from: "2125559876", name: John Smith, to: "2125550100"}
  - wait: {call: c1, for: answered, within: 30s}
  - pause: 8s
  - hangup: c1
  - wait: {call: c1, for: ended}
expect:
  - {event: ringing, user: "101", link: 0}
  - {event: ended, user: "101", link: 1, finish: ok, talk: 8s}
`

func TestParse(t *testing.T) {
	sc, err := scenario.Parse("good.yaml", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Phones["101"].AnswerAfter.D() != 3*time.Second || sc.Phones["102"].Reject != 486 {
		t.Errorf("phones %+v", sc.Phones)
	}
	if len(sc.Steps) != 5 || sc.Steps[0].Call.From != "2125559876" || sc.Steps[2].Pause.D() != 8*time.Second || sc.Steps[3].Hangup != "c1" {
		t.Errorf("steps %+v", sc.Steps)
	}
	if sc.Steps[1].Line != 9 {
		t.Errorf("wait step at line %d, want 9", sc.Steps[1].Line)
	}
	if sc.Expect[1].Talk.D() != 8*time.Second || sc.Expect[1].Finish != "ok" {
		t.Errorf("expect %+v", sc.Expect[1])
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "name: x\ncolour: blue\n", "colour"},
		{"bad duration", "name: x\nsteps:\n  - pause: soon\n", "line 3: bad duration"},
		{"unknown call", "name: x\nsteps:\n  - hangup: c9\n", `x.yaml:3: hangup: unknown call "c9"`},
		{"two actions", "name: x\nsteps:\n  - call: {id: a, from: '1', to: '2'}\n    pause: 1s\n", "x.yaml:3: a step needs exactly one"},
		{"bad wait", "name: x\nsteps:\n  - call: {id: a, from: '1', to: '2'}\n  - wait: {call: a, for: lunch}\n", `x.yaml:4: wait: for "lunch"`},
		{"bad reject", "name: x\nphones:\n  '101': {reject: 200}\n", "reject 200"},
		{"bad expect", "name: x\nexpect:\n  - {event: rang}\n", `event "rang"`},
		{"no name", "summary: x\n", "name: missing"},
		{"transfer both", "name: x\nsteps:\n  - call: {id: a, from: '1', to: '2'}\n  - transfer: {call: a, to: '102', attended: a}\n", "x.yaml:4: transfer: exactly one of to"},
		{"transfer unknown consult", "name: x\nsteps:\n  - call: {id: a, from: '1', to: '2'}\n  - transfer: {call: a, attended: b}\n", `transfer: attended: unknown call "b"`},
		{"hold unknown", "name: x\nsteps:\n  - hold: {call: a, by: '101'}\n", `hold: unknown call "a"`},
		{"bad digits", "name: x\nsteps:\n  - call: {id: a, from: '1', to: '2'}\n  - dtmf: {call: a, digits: '1x'}\n", `dtmf: digits "1x"`},
		{"bad dtmf method", "name: x\nsteps:\n  - call: {id: a, from: '1', to: '2'}\n  - dtmf: {call: a, digits: '1', method: smoke}\n", `method "smoke"`},
		{"bad admin", "name: x\nsteps:\n  - admin: {action: reboot, ext: '101'}\n", `admin: action "reboot"`},
		{"forwarding without destination", "name: x\nsteps:\n  - admin: {action: forwarding-on, ext: '101'}\n", "needs a destination"},
		{"bad agent", "name: x\nsteps:\n  - agent: {action: dance, ext: '101'}\n", `agent: action "dance"`},
		{"not yaml", "name: [\n", "x.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scenario.Parse("x.yaml", strings.NewReader(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	_, err := scenario.Parse("x.yaml", strings.NewReader("name: x\nsteps:\n  - hangup: c9\n"))
	if !errors.Is(err, scenario.ErrInvalid) {
		t.Errorf("%v is not ErrInvalid", err)
	}
}

const transfers = `
name: t
steps:
  - call: {id: c1, from: "2125559876", to: "2125550100"}
  - hold: {call: c1, by: "101"}
  - call: {id: c2, from: "101", to: "103"}
  - transfer: {call: c1, by: "101", attended: c2}
  - transfer: {call: c1, by: "103", to: "102"}
  - unhold: {call: c1}
  - dtmf: {call: c1, digits: "1#", method: info}
  - admin: {action: forwarding-on, ext: "102", destination: "12125550199"}
  - agent: {action: pause, ext: "101", queue: "800", reason: Lunch}
`

func TestParseMidCallSteps(t *testing.T) {
	sc, err := scenario.Parse("t.yaml", strings.NewReader(transfers))
	if err != nil {
		t.Fatal(err)
	}
	st := sc.Steps
	if st[1].Hold.By != "101" || st[3].Transfer.Attended != "c2" || st[4].Transfer.To != "102" || st[5].Unhold.Call != "c1" {
		t.Errorf("steps %+v", st)
	}
	if st[6].DTMF.Digits != "1#" || st[7].Admin.Destination != "12125550199" || st[8].Agent.Reason != "Lunch" {
		t.Errorf("steps %+v %+v %+v", st[6].DTMF, st[7].Admin, st[8].Agent)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add(transfers)
	f.Add("name: x\nsteps:\n  - hangup: c9\n")
	f.Add("name: [\n")
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := scenario.Parse("fuzz.yaml", strings.NewReader(s))
		if err == nil && sc.Name == "" {
			t.Error("a scenario without a name parsed")
		}
	})
}
