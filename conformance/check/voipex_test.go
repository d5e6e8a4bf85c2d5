package check_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

func wantsOf(t *testing.T, name string) []string {
	t.Helper()
	sc, err := scenarios.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range check.VOIPEXExpect(sc) {
		out = append(out, strings.Join([]string{w.Event, w.From, w.To, w.Line, w.Direction}, " "))
	}
	return out
}

// An internal call is the caller's NewCall and CDR (outgoingLocal) around
// the called extension's moments (incomingLocal), From the caller To the
// called extension throughout; a barge is a call of its own beside the one
// listened in on, From the supervisor To the extension.
func TestVOIPEXExpectLocal(t *testing.T) {
	got := wantsOf(t, "internal-call")
	want := []string{
		"NewCall 101 102 101 outgoingLocal",
		"Ringing 101 102 102 incomingLocal",
		"Answered 101 102 102 incomingLocal",
		"Hangup 101 102 102 incomingLocal",
		"CDR 101 102 101 outgoingLocal",
	}
	if !slices.Equal(got, want) {
		t.Errorf("internal-call:\n got %q\nwant %q", got, want)
	}
	got = wantsOf(t, "barge")
	const ext, did = "2125559876", "2125550100"
	want = []string{
		"NewCall " + ext + " " + did + "  incoming",
		"Ringing " + ext + " " + did + " 101 incoming",
		"Answered " + ext + " " + did + " 101 incoming",
		"NewCall 104 101 104 barge",
		"Answered 104 101 104 barge",
		"Hangup 104 101 104 barge",
		"CDR 104 101 104 barge",
		"Hangup " + ext + " " + did + " 101 incoming",
		"CDR " + ext + " " + did + " 101 incoming",
	}
	if !slices.Equal(got, want) {
		t.Errorf("barge:\n got %q\nwant %q", got, want)
	}
}

// 3CX and Bulutfon report no internal call and no barge.
func TestOutsideDialectsSkipLocal(t *testing.T) {
	for _, name := range []string{"internal-call", "barge"} {
		sc, err := scenarios.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		outside := slices.DeleteFunc(slices.Clone(sc.Expect), scenario.Expect.IsLocal)
		tcx, err := check.NewThreeCX()
		if err != nil {
			t.Fatal(err)
		}
		if len(outside) == 0 {
			if err := tcx.Expected(sc, nil, 0); err != nil {
				t.Errorf("%s: 3cx expects requests: %v", name, err)
			}
		}
		bf, err := check.NewBulutfon("current", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range bf.ExpectedEvents(sc) {
			if sc.Expect[ev.ScenarioExpectIndex].IsLocal() {
				t.Errorf("%s: bulutfon expects %s for a %s expectation", name, ev.Type, sc.Expect[ev.ScenarioExpectIndex].Direction)
			}
		}
	}
}

func TestVOIPEXAuthAndUsers(t *testing.T) {
	c, err := check.NewVOIPEX()
	if err != nil {
		t.Fatal(err)
	}
	r := check.Request{Method: "POST", Path: "/h",
		Header: http.Header{"Authorization": []string{delivery.BasicAuth("crm", "pa:ss")}},
		Body:   []byte(`{"EventName":"Ringing","Line":"101","Login":"alice","Email":"alice@example.com"}`)}
	if err := c.Auth(r, "crm", "pa:ss"); err != nil {
		t.Error(err)
	}
	if err := c.Auth(r, "crm", "other"); err == nil {
		t.Error("wrong password accepted")
	}
	if err := c.Auth(check.Request{Method: "POST"}, "crm", "pa:ss"); err == nil {
		t.Error("request without Authorization accepted")
	}
	dir := map[string]config.Extension{"101": {Login: "alice", Email: "alice@example.com"}}
	if err := c.Users(r, dir); err != nil {
		t.Error(err)
	}
	if err := c.Users(r, map[string]config.Extension{"101": {Login: "bob"}}); err == nil {
		t.Error("Login of another user accepted")
	}
	none := check.Request{Method: "POST", Body: []byte(`{"EventName":"NewCall","Login":"alice"}`)}
	if err := c.Users(none, dir); err == nil {
		t.Error("Login without Line accepted")
	}
}
