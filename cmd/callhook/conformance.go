package main

import (
	"context"
	"errors"
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

// dialectRules checks one scenario's captured requests against a dialect's
// documented rules and returns every violation.
type dialectRules func(sc *scenario.Scenario, reqs []check.Request) []error

func conformanceRules() (map[string]dialectRules, error) {
	tcx, err := check.NewThreeCX()
	if err != nil {
		return nil, err
	}
	vpx, err := check.NewVOIPEX()
	if err != nil {
		return nil, err
	}
	return map[string]dialectRules{
		"3cx": func(sc *scenario.Scenario, reqs []check.Request) []error {
			errs := []error{tcx.Expected(sc, reqs, time.Second), tcx.Chain(reqs)}
			for _, r := range reqs {
				errs = append(errs, tcx.Transport(r), tcx.Fields(r), tcx.Values(r), tcx.ID(r))
			}
			return errs
		},
		"voipex": func(sc *scenario.Scenario, reqs []check.Request) []error {
			errs := []error{vpx.Expected(sc, reqs, time.Second), vpx.Chain(reqs)}
			for _, r := range reqs {
				errs = append(errs, vpx.Transport(r), vpx.Fields(r))
			}
			return errs
		},
	}, nil
}

func cmdConformance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	speed := fs.Float64("speed", 10, "play scenarios `X` times faster")
	only := fs.String("dialect", "", "check only this `dialect` (3cx or voipex)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook conformance [--dialect D] [--speed X] [SCENARIO...]\n\n"+
			"Plays every built-in scenario (or those named) through simulator + engine for\n"+
			"each dialect and checks every webhook against the vendor's documented rules.\n"+
			"Bulutfon's four encodings and profiles are checked by 'make conformance'.\n\n")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = scenarios.Names()
	}
	rules, err := conformanceRules()
	if err != nil {
		return err
	}
	dialects := []string{"3cx", "voipex"}
	if *only != "" {
		if _, ok := rules[*only]; !ok {
			return fmt.Errorf("%w: --dialect %q (want 3cx or voipex)", errUsage, *only)
		}
		dialects = []string{*only}
	}
	failed, passed := 0, 0
	for _, name := range names {
		sc, err := scenarios.Load(name)
		if err != nil {
			return err
		}
		for _, d := range dialects {
			if sc.Pending != "" {
				fmt.Fprintf(stdout, "pend  %-7s %-28s %s\n", d, name, sc.Pending)
				continue
			}
			reqs, err := captureScenario(ctx, sc, d, *speed)
			if err != nil {
				return err
			}
			var errs []error
			checks := rules[d](sc, reqs)
			for _, err := range checks {
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				failed++
				fmt.Fprintf(stdout, "FAIL  %-7s %s\n      %s\n", d, name, strings.ReplaceAll(err.Error(), "\n", "\n      "))
				continue
			}
			passed++
			fmt.Fprintf(stdout, "ok    %-7s %-28s %d webhooks, %d checks\n", d, name, len(reqs), len(checks))
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d scenario/dialect pair(s) failed conformance", failed)
	}
	return nil
}

func captureScenario(ctx context.Context, sc *scenario.Scenario, dialect string, speed float64) ([]check.Request, error) {
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, _ := url.Parse(recv.URL() + "/hook")
	h, err := harness.Start(ctx, harness.Config{Dialect: dialect, Target: target, Speed: speed})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.Play(ctx, sc); err != nil {
		return nil, err
	}
	var out []check.Request
	for _, c := range recv.Requests() {
		out = append(out, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Body: c.Body})
	}
	return out, nil
}
