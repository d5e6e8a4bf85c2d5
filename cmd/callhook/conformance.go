package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

func cmdConformance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	speed := fs.Float64("speed", 10, "play scenarios `X` times faster")
	only := fs.String("dialect", "", "check only this `dialect` (default: every dialect)")
	parallel := fs.Int("plays", harness.PlaysLimit(), "play `N` scenarios at once (1: one after another; default from "+harness.PlaysEnv+")")
	var reports reportFlag
	fs.Var(&reports, "report", "write a test report, `FORMAT:FILE` with FORMAT junit or json (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook conformance [--dialect D] [--speed X] [--plays N] [--report junit:FILE] [SCENARIO...]\n\n"+
			"Plays every built-in scenario (or those named) through simulator + engine for\n"+
			"each dialect (Bulutfon in each of its encodings and profiles) and checks\n"+
			"every webhook against the vendor's documented rules. Scenarios play a few at\n"+
			"once (--plays), each on its own simulator and engine; results are listed in\n"+
			"order. --report writes one test case per scenario and dialect variant (JUnit\n"+
			"XML or JSON) for CI.\n\n")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *parallel < 1 {
		return fmt.Errorf("%w: --plays %d (want 1 or more)", errUsage, *parallel)
	}
	if len(names) == 0 {
		names = scenarios.Names()
	}
	dialects := check.Dialects()
	if *only != "" {
		d, err := check.Lookup(*only)
		if err != nil {
			return fmt.Errorf("%w: --dialect %q (want %s)", errUsage, *only, strings.Join(dialectNames(dialects), ", "))
		}
		dialects = []check.Dialect{d}
	}
	tr := &testReport{Name: "callhook conformance", Start: time.Now()}
	var scs []*scenario.Scenario
	for _, name := range names {
		sc, err := scenarios.Load(name)
		if err != nil {
			return err
		}
		scs = append(scs, sc)
	}
	// Each scenario plays on a simulator and engine of its own, so they
	// play concurrently; a play mostly waits on the simulator's clock.
	type captured = map[string][]check.Request
	plays := harness.NewPlays[captured](*parallel, 0)
	defer plays.Close()
	played := map[string]*harness.Play[captured]{}
	for _, sc := range scs {
		if _, dup := played[sc.Name]; sc.Pending == "" && !dup {
			played[sc.Name] = plays.Add(sc.Name, func(ctx context.Context) (captured, error) {
				return captureScenario(ctx, sc, dialects, *speed)
			})
		}
	}
	plays.Start()
	for _, sc := range scs {
		name := sc.Name
		if sc.Pending != "" {
			fmt.Fprintf(stdout, "pend  %-24s %-28s %s\n", "", name, sc.Pending)
			for _, d := range dialects {
				for _, v := range d.Variants {
					tr.add(&testCase{Name: name, Class: variantLabel(d, v), Skipped: "pending: " + sc.Pending})
				}
			}
			continue
		}
		// One play feeds every dialect's webhooks at once: a receiver's
		// requests do not depend on the others configured beside it.
		pl := played[name]
		got, err := pl.Wait(ctx)
		elapsed := pl.Took()
		for _, d := range dialects {
			for _, v := range d.Variants {
				label := variantLabel(d, v)
				c := tr.add(&testCase{Name: name, Class: label, Time: elapsed})
				if err != nil {
					c.Failures = append(c.Failures, "not played: "+err.Error())
					fmt.Fprintf(stdout, "FAIL  %-24s %s\n      %v\n", label, name, err)
					continue
				}
				reqs := got[label]
				checks := v.Check(sc, reqs, time.Second)
				c.Webhooks, c.Checks = len(reqs), len(checks)
				if err := check.Failures(checks); err != nil {
					c.Failures = append(c.Failures, err.Error())
					fmt.Fprintf(stdout, "FAIL  %-24s %s\n      %s\n", label, name, strings.ReplaceAll(err.Error(), "\n", "\n      "))
					continue
				}
				fmt.Fprintf(stdout, "ok    %-24s %-28s %d webhooks, %d checks\n", label, name, len(reqs), len(checks))
			}
		}
	}
	passed, failed, _ := tr.counts()
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if err := reports.write(tr); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario/dialect pair(s) failed conformance", failed)
	}
	return nil
}

func dialectNames(ds []check.Dialect) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// variantLabel names a dialect's webhook variant: "3cx", "bulutfon/json-current".
func variantLabel(d check.Dialect, v check.Variant) string {
	if v.Name == "" {
		return d.Name
	}
	return d.Name + "/" + v.Name
}

// captureScenario plays sc once through simulator + engine with one
// receiver per dialect variant and returns what each got, by label.
func captureScenario(ctx context.Context, sc *scenario.Scenario, dialects []check.Dialect, speed float64) (map[string][]check.Request, error) {
	servers := map[string]*webhooktest.Server{}
	var recvs []harness.Receiver
	for _, d := range dialects {
		for i, v := range d.Variants {
			label := variantLabel(d, v)
			srv := webhooktest.NewServer()
			defer srv.Close()
			servers[label] = srv
			u, _ := url.Parse(srv.URL() + "/hook")
			recvs = append(recvs, harness.Receiver{Name: fmt.Sprintf("%s-%d", d.Name, i), Dialect: d.Name, Options: v.Options, URL: u})
		}
	}
	h, err := harness.Start(ctx, harness.Config{Receivers: recvs, Speed: speed})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.Play(ctx, sc); err != nil {
		return nil, err
	}
	out := map[string][]check.Request{}
	for label, srv := range servers {
		for _, c := range srv.Requests() {
			out[label] = append(out[label], check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
		}
	}
	return out, nil
}
