package voipex_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// speed plays scenarios ten times faster; the simulator's clock runs ten
// times faster too, so durations in the webhooks stay the scenario's.
const speed = 10

// tolerance allows for scheduling jitter, magnified by the speed-up.
const tolerance = time.Second

// directory is the engine's extension directory ([extension.NUM] in the
// .ini): the users VOIPEX names as Login and Email. 103 is left out, so
// its events must carry neither.
var directory = map[string]config.Extension{
	"101": {Number: "101", Login: "alice", Email: "alice@example.com", Name: "Alice"},
	"102": {Number: "102", Login: "bob", Email: "bob@example.com", Name: "Bob"},
	"104": {Number: "104", Login: "dave", Email: "dave@example.com", Name: "Dave"},
}

// The receiver's "login/heslo" for HTTP basic auth.
const login, password = "crm-hook", "s3cret:with colon"

// played plays sc through simulator → AMI → engine → HTTP and returns what
// the receiver got. It runs on a goroutine of plays, so it returns errors
// rather than failing the spec.
func played(ctx context.Context, sc *scenario.Scenario) ([]check.Request, error) {
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, err := url.Parse(recv.URL() + "/voipex")
	if err != nil {
		return nil, err
	}
	h, err := harness.Start(ctx, harness.Config{Dialect: "voipex", Target: target, Speed: speed,
		Extensions: directory, Username: login, Password: password})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.Play(ctx, sc); err != nil {
		return nil, err
	}
	var out []check.Request
	for _, c := range recv.Requests() {
		if c.Path != "/voipex" {
			return nil, fmt.Errorf("request to %s, want /voipex", c.Path)
		}
		if ct := c.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			return nil, fmt.Errorf("request with Content-Type %q, want application/json", ct)
		}
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
	}
	return out, nil
}

// plays are the suite's plays, one per scenario, run a few at once from
// BeforeSuite (harness.Plays).
var plays = harness.NewPlays[[]check.Request](0, 2*time.Minute)

var _ = BeforeSuite(func() { suite.Start(plays) })

// notForVOIPEX names scenarios whose moments VOIPEX has no event for.
var notForVOIPEX = map[string]string{}

// runAnyway names scenarios marked pending for a reason that concerns
// another dialect's check only; VOIPEX's check handles them.
var runAnyway = map[string]bool{
	// Pending for the 3CX check, which compares call events only; the
	// VOIPEX check maps queue logins and pauses onto its agent events and
	// knows that forwarding and extension changes have none.
	"agent-login-logout-pause":  true,
	"forwarding-change":         true,
	"extension-created-deleted": true,
}

// simulatorLacks names scenarios pending because the simulator does not
// yet play a part of them (the scenario's pending says what), with the
// webhooks that part would cause. The suite plays them anyway and checks
// every other webhook; the missing ones are a pending spec of their own.
var simulatorLacks = map[string]func(check.VOIPEXWant) bool{}

var _ = Describe("VOIPEX webhooks, end to end", func() {
	rules, err := check.NewVOIPEX()
	if err != nil {
		panic(err)
	}
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		decorators := []any{Ordered}
		note, pending := "", false
		wants := check.VOIPEXExpect(sc)
		lacks := simulatorLacks[name]
		switch {
		case sc.Pending != "" && lacks != nil:
			// Played; what the simulator cannot cause yet is pending.
			wants = slices.DeleteFunc(wants, lacks)
			note = " (in part)"
		case sc.Pending != "" && !runAnyway[name]:
			// Listed, not run: the engine does not yet report this flow.
			decorators = append(decorators, Pending)
			note = " (pending: " + sc.Pending + ")"
			pending = true
		case notForVOIPEX[name] != "":
			decorators = append(decorators, Pending)
			note = " (pending: " + notForVOIPEX[name] + ")"
			pending = true
		}
		var play *harness.Play[[]check.Request]
		if !pending {
			play = plays.Add(name, func(ctx context.Context) ([]check.Request, error) { return played(ctx, sc) })
		}
		Context(name+note, decorators, func() {
			var reqs []check.Request
			BeforeAll(func(ctx SpecContext) {
				reqs = suite.Played(ctx, play)
				for _, r := range reqs {
					GinkgoWriter.Printf("%s %s\n", sc.Name, r.Body)
				}
			}, NodeTimeout(3*time.Minute))

			It("sends NewCall, the call's moments and its CDR in order with the documented values", func() {
				Expect(rules.ExpectedWants(name, wants, reqs, tolerance)).To(Succeed())
			})
			if sc.Pending != "" && lacks != nil {
				It("sends what the simulator does not play yet: "+sc.Pending, Pending, func() {
					Expect(rules.Expected(sc, reqs, tolerance)).To(Succeed())
				})
			}
			It("sends the receiver's login and password as HTTP basic auth", func() {
				Expect(reqs).To(HaveLen(len(wants)))
				for _, r := range reqs {
					Expect(rules.Auth(r, login, password)).To(Succeed())
				}
			})
			It("names Line's user from the extension directory (Login, Email)", func() {
				for _, r := range reqs {
					Expect(rules.Users(r, directory)).To(Succeed())
				}
			})
			It("POSTs each event as a JSON body", func() {
				for _, r := range reqs {
					Expect(rules.Transport(r)).To(Succeed())
				}
			})
			It("carries only the document's fields, a documented EventName and Direction, Reason on Hangup", func() {
				for _, r := range reqs {
					Expect(rules.Fields(r)).To(Succeed())
				}
			})
			It("keeps the call's one Asterisk UniqueId across its events", func() {
				Expect(rules.Chain(reqs)).To(Succeed())
			})
		})
	}
})
