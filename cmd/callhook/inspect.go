package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/inspect"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// inspectOptions say what an inspector session plays and where it shows it.
type inspectOptions struct {
	sim      simOptions
	addr     string
	dialects []string // one receiver each
	target   *url.URL // the user's receiver; nil: a local one
	keep     bool     // serve on after the scenarios, until ctx ends
}

func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := inspectOptions{keep: true}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8089", "`host:port` the inspector listens on (port 0: any free one)")
	dialects := fs.String("dialect", "all", "payload `dialects`, comma-separated, one receiver each: "+strings.Join(dialect.Names(), ", ")+" or all")
	target := fs.String("target", "", "your receiver's `URL`; default: a local receiver that answers 200")
	fs.Float64Var(&o.sim.speed, "speed", 10, "play scenarios `X` times faster")
	fs.StringVar(&o.sim.transport, "transport", "udp", "SIP transport of the simulated phones: udp or tcp")
	fs.BoolVar(&o.sim.verbose, "v", false, "log simulator and engine details to stderr")
	exit := fs.Bool("exit", false, "stop once the scenarios are played instead of serving on until Ctrl-C")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook inspect [SCENARIO...] [--addr HOST:PORT] [--dialect all] [--target URL] [--speed X]\n\n"+
			"Starts the PBX simulator, the engine connected to it over AMI and a web inspector,\n"+
			"then plays the scenarios (default: every built-in one). The inspector shows each\n"+
			"call live: its SIP ladder, the PBX's signals, the call events and every webhook\n"+
			"with its attempts, the receiver's answers and the vendor rules it breaks.\n\n")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	o.keep = !*exit
	if o.dialects, err = dialectList(*dialects); err != nil {
		fs.Usage()
		return err
	}
	if *target != "" {
		u, err := url.Parse(*target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: --target %q is not an http(s) URL", errUsage, *target)
		}
		o.target = u
	}
	if len(names) == 0 {
		names = scenarios.Names()
	}
	var scs []*scenario.Scenario
	for _, n := range names {
		sc, err := scenarios.Load(n)
		if err != nil {
			return err
		}
		scs = append(scs, sc)
	}
	return runInspect(ctx, o, scs, stdout, stderr)
}

// dialectList reads --dialect: names, or all registered.
func dialectList(v string) ([]string, error) {
	if v == "" || v == "all" {
		return dialect.Names(), nil
	}
	var out []string
	for d := range strings.SplitSeq(v, ",") {
		d = strings.TrimSpace(d)
		if _, err := dialect.Lookup(d); err != nil {
			return nil, fmt.Errorf("%w: --dialect: %w", errUsage, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// runInspect serves an inspector on o.addr, prints its URL, and plays scs
// through the simulator and an engine it follows; with o.keep it serves
// on until ctx ends.
func runInspect(ctx context.Context, o inspectOptions, scs []*scenario.Scenario, stdout, stderr io.Writer) error {
	base := o.target
	if base == nil {
		recv := webhooktest.NewServer()
		defer recv.Close()
		base, _ = url.Parse(recv.URL())
	}
	var recvs []harness.Receiver
	rules := map[string]inspect.Receiver{}
	for _, d := range o.dialects {
		u := *base
		if o.target == nil || len(o.dialects) > 1 {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/" + d
		}
		recvs = append(recvs, harness.Receiver{Name: d, Dialect: d, URL: &u})
		rules[d] = inspect.Receiver{Dialect: d}
	}
	// The ladders come from the simulator, which starts after the
	// inspector (the engine's stage); the page may ask before.
	var h atomic.Pointer[harness.Harness]
	in := inspect.New(inspect.Options{
		Receivers: rules, Title: "pbxsim",
		SIP: inspect.SIPFunc(func(calls []string) []inspect.SIPLeg {
			if h := h.Load(); h != nil {
				return h.SIP().Legs(calls)
			}
			return nil
		}),
	})
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("start inspector on %s: %w", o.addr, err)
	}
	srv := &http.Server{Handler: in, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	// Close, not Shutdown: an open page's event stream never ends by
	// itself, and nothing else the inspector serves needs finishing.
	defer srv.Close()
	fmt.Fprintf(stdout, "Inspector: http://%s/\n", ln.Addr())
	fmt.Fprintf(stdout, "PBX simulator + engine (AMI) + %s webhooks to %s, %gx speed\n\n", strings.Join(o.dialects, ", "), base, o.sim.speed)

	log := slog.New(slog.DiscardHandler)
	if o.sim.verbose {
		log = newLogger(stderr, true)
	}
	rep := &report{w: stdout}
	hs, err := harness.Start(ctx, harness.Config{
		Receivers: recvs, Speed: o.sim.speed, Transport: o.sim.transport, Ladder: true,
		Stages: []engine.Stage{in}, OnAttempt: in.Attempt,
		OnResult: func(r delivery.Result) { in.Result(r); rep.result(r) },
		Logger:   log,
	})
	if err != nil {
		return err
	}
	h.Store(hs)
	defer hs.Close()
	for _, sc := range scs {
		fmt.Fprintf(stdout, "== %s: %s\n", sc.Name, sc.Summary)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := hs.Play(pctx, sc)
		cancel()
		if err != nil {
			return err
		}
	}
	rep.summary(base.String())
	if !o.keep {
		return nil
	}
	fmt.Fprintf(stdout, "\nInspector: http://%s/  (Ctrl-C to stop)\n", ln.Addr())
	<-ctx.Done()
	return nil
}
