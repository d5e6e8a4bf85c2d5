package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/scenarios"
)

func cmdConformance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	speed := fs.Float64("speed", 10, "play scenarios `X` times faster")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook conformance [--speed X]\n\n"+
			"Plays every built-in scenario through simulator + engine for each dialect and\n"+
			"checks every webhook against the vendor's documented rules.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rules, err := check.NewThreeCX()
	if err != nil {
		return err
	}
	failed := 0
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Load(name)
		if err != nil {
			return err
		}
		if sc.Pending != "" {
			fmt.Fprintf(stdout, "pend  3cx  %-28s %s\n", name, sc.Pending)
			continue
		}
		reqs, err := captureScenario(ctx, name, *speed)
		if err != nil {
			return err
		}
		results := []error{rules.Expected(sc, reqs, time.Second), rules.Chain(reqs)}
		for _, r := range reqs {
			results = append(results, rules.Transport(r), rules.Fields(r), rules.Values(r), rules.ID(r))
		}
		var errs []error
		for _, err := range results {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL  3cx  %-28s\n%v\n", name, err)
			continue
		}
		fmt.Fprintf(stdout, "ok    3cx  %-28s %d webhooks, %d checks\n", name, len(reqs), len(results))
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario(s) failed conformance", failed)
	}
	return nil
}

func captureScenario(ctx context.Context, name string, speed float64) ([]check.Request, error) {
	sc, err := scenarios.Load(name)
	if err != nil {
		return nil, err
	}
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, _ := url.Parse(recv.URL() + "/hook")
	h, err := harness.Start(ctx, harness.Config{Dialect: "3cx", Target: target, Speed: speed})
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
