package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

func cmdSimList(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook sim list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	long := fs.Bool("l", false, "also print each scenario's summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, n := range scenarios.Names() {
		if !*long {
			fmt.Fprintln(stdout, n)
			continue
		}
		sc, err := scenarios.Load(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-28s %s\n", n, sc.Summary)
	}
	return nil
}

// parseInterspersed parses flags that may come after positional arguments,
// as in "sim run a b --dialect 3cx".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type simOptions struct {
	dialect, target, profile, transport string
	speed                               float64
	verbose                             bool
}

func cmdSimRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook sim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o simOptions
	fs.StringVar(&o.dialect, "dialect", "", "payload `dialect`: "+strings.Join(dialect.Names(), ", ")+" (required)")
	fs.StringVar(&o.target, "target", "", "receiver `URL` the webhooks go to (required)")
	fs.StringVar(&o.profile, "profile", "", "dialect `profile`, e.g. started=incomingcall_started")
	fs.Float64Var(&o.speed, "speed", 1, "play scenarios `X` times faster (the PBX clock runs faster too)")
	fs.StringVar(&o.transport, "transport", "udp", "SIP transport of the simulated phones: udp or tcp")
	fs.BoolVar(&o.verbose, "v", false, "log simulator and engine details to stderr")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook sim run SCENARIO... --dialect 3cx --target URL [--speed X] [--profile NAME]\n\n"+
			"Plays the scenarios on the built-in PBX simulator, with the engine connected to\n"+
			"it over AMI, and delivers the webhooks to your receiver. Exits 0 only when every\n"+
			"webhook was delivered with a 2xx. Scenarios: 'callhook sim list'.\n\n")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: name at least one scenario (see 'callhook sim list')", errUsage)
	}
	if o.dialect == "" || o.target == "" {
		fs.Usage()
		return fmt.Errorf("%w: --dialect and --target are required", errUsage)
	}
	var scs []*scenario.Scenario
	for _, n := range names {
		sc, err := scenarios.Load(n)
		if err != nil {
			return err
		}
		scs = append(scs, sc)
	}
	u, err := url.Parse(o.target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --target %q is not an http(s) URL", errUsage, o.target)
	}
	rep := &report{w: stdout}
	err = playScenarios(ctx, scs, o, u, stderr, rep)
	rep.summary(o.target)
	if err != nil {
		return err
	}
	if rep.failed > 0 {
		return fmt.Errorf("%d of %d webhooks were not delivered to %s: %v", rep.failed, rep.sent, o.target, rep.lastErr)
	}
	if rep.sent == 0 {
		return errors.New("the scenarios produced no webhooks")
	}
	return nil
}

// report prints what was sent and how the receiver answered.
type report struct {
	mu      sync.Mutex
	w       io.Writer
	sent    int
	failed  int
	lastErr error
}

func (r *report) result(res delivery.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	m := res.Request.Method
	if m == "" {
		m = "POST"
	}
	if res.OK() {
		fmt.Fprintf(r.w, "  -> %s %s\n     <- %d %s %s(%s)\n", m, res.Request.URL, res.Status, http.StatusText(res.Status),
			snippet(res.Body), res.Latency.Round(10*time.Microsecond))
		return
	}
	r.failed++
	r.lastErr = res.Err
	fmt.Fprintf(r.w, "  -> %s %s\n     !! not delivered after %d attempt(s): %v\n", m, res.Request.URL, res.Attempts, res.Err)
}

func (r *report) summary(target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "%d webhook(s) sent to %s, %d delivered, %d failed\n", r.sent, target, r.sent-r.failed, r.failed)
}

// snippet is the start of a response body, on one line, followed by a space.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ") + " "
}

// playScenarios starts the simulator and an engine connected to it, and
// plays each scenario, waiting after each until its webhooks are out.
func playScenarios(ctx context.Context, scs []*scenario.Scenario, o simOptions, target *url.URL, stderr io.Writer, rep *report) error {
	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = newLogger(stderr, true)
	}
	h, err := harness.Start(ctx, harness.Config{
		Dialect: o.dialect, Profile: o.profile, Target: target,
		Speed: o.speed, Transport: o.transport,
		OnResult: rep.result, Logger: log,
	})
	if err != nil {
		return err
	}
	defer h.Close()
	for _, sc := range scs {
		fmt.Fprintf(rep.w, "== %s: %s\n", sc.Name, sc.Summary)
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := h.Play(pctx, sc)
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(rep.w, "   played in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
