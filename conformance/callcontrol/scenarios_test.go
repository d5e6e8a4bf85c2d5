package callcontrol_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/callcontrol"
	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/scenarios"
)

// tolerance allows for scheduling jitter: 3CX's events carry no time, so
// the engine times them as it hears them.
const tolerance = time.Second

// parallel plays run at once: each plays in real time (see
// callcontrol.Config.Speed) on its own simulator and engine, mostly
// waiting, so running them together keeps the suite near the longest
// scenario's length times the batches.
const parallel = 6

// play is one scenario played through 3CX, optionally with the event
// stream dropped at a moment of the call.
type play struct {
	scenario string
	// drop, when set, says at which call event the PBX drops the
	// engine's WebSocket (once).
	drop func(callmodel.Event) bool
}

// played is what one play gave: each receiver's requests, how many
// WebSocket sessions the engine opened, or why it failed.
type played struct {
	reqs     map[string][]check.Request
	sessions int
	err      error
}

var (
	receivers = callcontrol.Receivers()
	results   = map[string]*played{}
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

func (p play) run(ctx context.Context) *played {
	res := &played{reqs: map[string][]check.Request{}}
	res.err = func() error {
		sc, err := scenarios.Load(p.scenario)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
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
		r, err := callcontrol.Start(pctx, cfg)
		if err != nil {
			return err
		}
		defer r.Close()
		mu.Lock()
		run = r
		mu.Unlock()
		if err := r.Play(pctx, sc); err != nil {
			return err
		}
		for _, rc := range receivers {
			res.reqs[rc.Name] = r.Requests(rc.Name)
		}
		res.sessions = r.Sim.ThreeCX().Accepted()
		return nil
	}()
	return res
}

var _ = BeforeSuite(func(ctx SpecContext) {
	plays := map[string]play{}
	for _, name := range names() {
		plays[name] = play{scenario: name}
	}
	if os.Getenv("CALLHOOK_3CX_SCENARIOS") == "" {
		for k, p := range drops {
			plays[k] = p
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for key, p := range plays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := p.run(ctx)
			mu.Lock()
			results[key] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
}, NodeTimeout(15*time.Minute))

// checkPlay holds a play's requests to every dialect's rules, with the
// scenario's expectations less the ones 3CX cannot meet.
func checkPlay(key, scenario string) {
	res := results[key]
	Expect(res).NotTo(BeNil(), "%s was not played", key)
	Expect(res.err).NotTo(HaveOccurred())
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
}

// Every built-in scenario, played once through pbxsim's 3CX Call Control
// API to an engine with every dialect's receivers: each receiver's
// requests meet its vendor's documented rules, with the same expectations
// as over AMI, less the ones 3CX cannot report (callcontrol.Differences).
var _ = Describe("Webhooks of a 3CX PBX", func() {
	var entries []TableEntry
	for _, name := range names() {
		entries = append(entries, Entry(name, name))
	}
	DescribeTable("meet every dialect's vendor rules",
		func(name string) { checkPlay(name, name) },
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
		entries = append(entries, Entry(key, key, p.scenario))
	}
	DescribeTable("costs no webhook and repeats none",
		func(key, scenario string) {
			if os.Getenv("CALLHOOK_3CX_SCENARIOS") != "" {
				Skip("CALLHOOK_3CX_SCENARIOS plays only the scenarios it names")
			}
			checkPlay(key, scenario)
			Expect(results[key].sessions).To(BeNumerically(">=", 2), "the connection was never dropped")
		},
		entries,
	)
})
