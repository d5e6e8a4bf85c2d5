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
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook conformance [--dialect D] [--speed X] [SCENARIO...]\n\n"+
			"Plays every built-in scenario (or those named) through simulator + engine for\n"+
			"each dialect (Bulutfon in each of its encodings and profiles) and checks\n"+
			"every webhook against the vendor's documented rules.\n\n")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
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
	failed, passed := 0, 0
	for _, name := range names {
		sc, err := scenarios.Load(name)
		if err != nil {
			return err
		}
		if sc.Pending != "" {
			fmt.Fprintf(stdout, "pend  %-24s %-28s %s\n", "", name, sc.Pending)
			continue
		}
		// One play feeds every dialect's webhooks at once: a receiver's
		// requests do not depend on the others configured beside it.
		got, err := captureScenario(ctx, sc, dialects, *speed)
		if err != nil {
			return err
		}
		for _, d := range dialects {
			for _, v := range d.Variants {
				label := variantLabel(d, v)
				reqs := got[label]
				checks := v.Check(sc, reqs, time.Second)
				if err := check.Failures(checks); err != nil {
					failed++
					fmt.Fprintf(stdout, "FAIL  %-24s %s\n      %s\n", label, name, strings.ReplaceAll(err.Error(), "\n", "\n      "))
					continue
				}
				passed++
				fmt.Fprintf(stdout, "ok    %-24s %-28s %d webhooks, %d checks\n", label, name, len(reqs), len(checks))
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
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
