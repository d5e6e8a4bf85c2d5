package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/scenario"
)

func load(t *testing.T, names ...string) []*scenario.Scenario {
	t.Helper()
	scs, err := loadScenarios(names)
	if err != nil {
		t.Fatal(err)
	}
	return scs
}

// --set rewrites the parties everywhere the scenario names them, and did
// renumbers the simulated PBX's DID, the menu key routing to it included.
func TestSetRewritesParties(t *testing.T) {
	set, err := parseSet([]string{"caller=+905321234567,name=Smith, John", "did=902121234567"})
	if err != nil {
		t.Fatal(err)
	}
	if set["name"] != "Smith, John" {
		t.Errorf("name %q: a comma without = continues the value", set["name"])
	}
	scs := load(t, "inbound-answered", "ivr-menu")
	topo := pbx.DefaultTopology()
	if err := set.apply(scs[:1], &topo); err != nil {
		t.Fatal(err)
	}
	c := scs[0].Steps[0].Call
	if c.From != "+905321234567" || c.Name != "Smith, John" || c.To != "902121234567" {
		t.Errorf("call %+v", *c)
	}
	for _, e := range scs[0].Expect {
		if e.External != "+905321234567" || e.DID != "902121234567" {
			t.Errorf("expectation %v: external %s did %s", e, e.External, e.DID)
		}
	}
	if topo.DIDs[0].Number != "902121234567" || topo.IVRs[0].Choices["1"].Target != "902121234567" {
		t.Errorf("topology DID %s, menu key 1 -> %s", topo.DIDs[0].Number, topo.IVRs[0].Choices["1"].Target)
	}
	if pbx.DefaultTopology().IVRs[0].Choices["1"].Target != "2125550100" {
		t.Error("the default topology was changed")
	}

	out := load(t, "outbound-answered")
	topo = pbx.DefaultTopology()
	if err := (overrides{"callee": "442071234567"}).apply(out, &topo); err != nil {
		t.Fatal(err)
	}
	if to := out[0].Steps[0].Call.To; to != "9442071234567" {
		t.Errorf("dialled %s", to)
	}
	if _, ok := out[0].Phones["442071234567"]; !ok || out[0].Expect[0].External != "442071234567" {
		t.Errorf("phones %v, expectation %v", out[0].Phones, out[0].Expect[0])
	}
}

func TestSetRefusals(t *testing.T) {
	for _, tt := range []struct {
		sets  []string
		names []string
		want  string
	}{
		{[]string{"colour=blue"}, []string{"inbound-answered"}, "unknown key"},
		{[]string{"caller="}, []string{"inbound-answered"}, "empty value"},
		{[]string{"did=12ab"}, []string{"inbound-answered"}, "want a phone number"},
		{[]string{"caller=123"}, []string{"outbound-answered"}, "none of the scenarios calls in"},
		{[]string{"callee=123"}, []string{"inbound-answered"}, "none of the scenarios dials out"},
		{[]string{"did=101"}, []string{"inbound-answered"}, "already uses 101 for an extension"},
		{[]string{"did=999"}, []string{"inbound-answered", "queue-missed"}, "separate runs"},
	} {
		set, err := parseSet(tt.sets)
		if err == nil {
			topo := pbx.DefaultTopology()
			err = set.apply(load(t, tt.names...), &topo)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--set %v on %v: %v, want %q", tt.sets, tt.names, err, tt.want)
		}
	}
}

// A receiver flag the dialect has no key for, or a value the dialect
// refuses, is named by its flag, all problems at once.
func TestSimRunFlagProblems(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(t.Context(), []string{"sim", "run", "inbound-answered", "--dialect", "3cx", "--target", "http://127.0.0.1:9/",
		"--format", "form", "--events", "ringing,incomming", "--password", "x", "--header", "Bad Name=1"}, &out, &errb)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--format: not a key of the 3cx dialect (its own: events, method, profile, stoppedringing",
		`--events: unknown 3cx event "incomming"`, "--password: set without --username", "--header Bad Name: invalid header name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	err = run(t.Context(), []string{"sim", "run", "inbound-answered", "--config", "x.ini", "--dialect", "3cx"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--dialect: the receivers come from --config x.ini") {
		t.Errorf("--config with --dialect: %v", err)
	}
}
