package callcontrol_test

import (
	"context"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/callcontrol"
	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/scenarios"
)

// tolerance allows for scheduling jitter: 3CX's events carry no time, so
// the engine times them as it hears them.
const tolerance = time.Second

// realTimePlays is how many plays run at once unless CALLHOOK_PLAYS says:
// each plays in real time (see callcontrol.Config.Speed) on its own
// simulator and engine, mostly waiting, and a second of scheduling jitter
// is a second of the checks' tolerance, not ten; so more run at once than
// in the suites at speed 10, keeping the suite near its longest plays.
func realTimePlays() int {
	if os.Getenv(harness.PlaysEnv) != "" {
		return harness.PlaysLimit()
	}
	return 16
}

// play is one scenario played through 3CX, optionally with the event
// stream dropped at a moment of the call.
type play struct {
	scenario string
	// drop, when set, says at which call event the PBX drops the
	// engine's WebSocket (once).
	drop func(callmodel.Event) bool
}

// played is what one play gave: each receiver's requests, how many
// WebSocket sessions the engine opened, and the autodial API's answer.
type played struct {
	reqs     map[string][]check.Request
	sessions int
	answer   map[string]string
}

var (
	receivers = callcontrol.Receivers()
	// plays are the suite's plays, by key: every scenario, and the
	// reconnect plays, run a few at once from BeforeSuite.
	plays = harness.NewPlays[*played](realTimePlays(), 3*time.Minute)
	byKey = map[string]*harness.Play[*played]{}
	// drops are the reconnect plays: the PBX drops the connection while
	// a phone rings, during a conversation and while a transfer goes on.
	drops = map[string]play{
		"dropped while ringing": {"inbound-answered", func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ringing }},
		"dropped during the conversation": {"inbound-answered", func(ev callmodel.Event) bool {
			return ev.Kind == callmodel.Answered
		}},
		"dropped as a blind transfer rings its target": {"blind-transfer", func(ev callmodel.Event) bool {
			return ev.Kind == callmodel.Ended && ev.Transferred
		}},
		"dropped as an attended transfer completes": {"attended-transfer", func(ev callmodel.Event) bool {
			return ev.Kind == callmodel.TransferCompleted
		}},
		"dropped while a queue rings its agents": {"queue-ringall-answered", func(ev callmodel.Event) bool {
			return ev.Kind == callmodel.Ringing && ev.User == "102"
		}},
	}
)

// names are the scenarios to play: every built-in one, or the list in
// CALLHOOK_3CX_SCENARIOS (comma-separated) to look at a few.
func names() []string {
	if v := os.Getenv("CALLHOOK_3CX_SCENARIOS"); v != "" {
		return strings.Split(v, ",")
	}
	return scenarios.Names()
}

func (p play) run(ctx context.Context) (*played, error) {
	sc, err := scenarios.Load(p.scenario)
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		run     *callcontrol.Run
		dropped bool
	)
	cfg := callcontrol.Config{Receivers: receivers}
	if p.drop != nil {
		cfg.OnEvent = func(ev callmodel.Event) {
			mu.Lock()
			defer mu.Unlock()
			if !dropped && run != nil && p.drop(ev) {
				dropped = true
				run.Sim.DropThreeCX()
			}
		}
	}
	r, err := callcontrol.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	mu.Lock()
	run = r
	mu.Unlock()
	if err := r.Play(ctx, sc); err != nil {
		return nil, err
	}
	res := &played{reqs: map[string][]check.Request{}}
	for _, rc := range receivers {
		res.reqs[rc.Name] = r.Requests(rc.Name)
	}
	res.sessions = r.Sim.ThreeCX().Accepted()
	return res, nil
}

// add registers the play under key.
func add(key string, p play) {
	byKey[key] = plays.Add(key, p.run)
}

func init() {
	for _, name := range names() {
		add(name, play{scenario: name})
	}
	if os.Getenv("CALLHOOK_3CX_SCENARIOS") == "" {
		for _, key := range slices.Sorted(maps.Keys(drops)) {
			add(key, drops[key])
		}
	}
}

var _ = BeforeSuite(func() { suite.Start(plays) })

// checkPlay holds a play's requests to every dialect's rules, with the
// scenario's expectations less the ones 3CX cannot meet.
func checkPlay(ctx context.Context, key, scenario string) *played {
	GinkgoHelper()
	pl := byKey[key]
	Expect(pl).NotTo(BeNil(), "%s was not played", key)
	res := suite.Played(ctx, pl)
	sc, err := scenarios.Load(scenario)
	Expect(err).NotTo(HaveOccurred())
	sc = callcontrol.Adapt(sc)
	total := 0
	for _, rc := range receivers {
		reqs := res.reqs[rc.Name]
		total += len(reqs)
		Expect(check.Failures(rc.Check.Check(sc, reqs, tolerance))).To(Succeed(), "%s (%s)", rc.Name, rc.Dialect)
		ids := map[string]bool{}
		for _, r := range reqs {
			id := http.Header(r.Header).Get(delivery.HeaderWebhookID)
			Expect(ids[id]).To(BeFalse(), "%s got webhook %s twice", rc.Name, id)
			ids[id] = true
		}
	}
	Expect(total).To(BeNumerically(">", 0), "the scenario gave no webhook at all")
	return res
}

// Every built-in scenario, played once through pbxsim's 3CX Call Control
// API to an engine with every dialect's receivers: each receiver's
// requests meet its vendor's documented rules, with the same expectations
// as over AMI, less the ones 3CX cannot report (callcontrol.Differences).
var _ = Describe("Webhooks of a 3CX PBX", func() {
	var entries []TableEntry
	for _, name := range names() {
		entries = append(entries, Entry(name, name, SpecTimeout(4*time.Minute)))
	}
	DescribeTable("meet every dialect's vendor rules",
		func(ctx SpecContext, name string) { checkPlay(ctx, name, name) },
		entries,
	)
})

// The PBX drops the engine's event stream at a moment of a call; the
// connector reconnects and resyncs by GETting every DN's participants.
// Every dialect's webhooks are still exactly the scenario's: none twice
// (webhook ids are unique per receiver), none made up, none lost.
var _ = Describe("A dropped 3CX connection", func() {
	var entries []TableEntry
	for key, p := range drops {
		entries = append(entries, Entry(key, key, p.scenario, SpecTimeout(4*time.Minute)))
	}
	DescribeTable("costs no webhook and repeats none",
		func(ctx SpecContext, key, scenario string) {
			if os.Getenv("CALLHOOK_3CX_SCENARIOS") != "" {
				Skip("CALLHOOK_3CX_SCENARIOS plays only the scenarios it names")
			}
			res := checkPlay(ctx, key, scenario)
			Expect(res.sessions).To(BeNumerically(">=", 2), "the connection was never dropped")
		},
		entries,
	)
})
