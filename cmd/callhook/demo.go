package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o simOptions
	fs.StringVar(&o.dialect, "dialect", "3cx", "payload `dialect` of the demo receiver")
	fs.Float64Var(&o.speed, "speed", 10, "play scenarios `X` times faster")
	fs.StringVar(&o.transport, "transport", "udp", "SIP transport of the simulated phones: udp or tcp")
	fs.BoolVar(&o.verbose, "v", false, "log simulator and engine details to stderr")
	keep := fs.Bool("keep", false, "show the scenarios live in the web inspector, and keep it running until Ctrl-C")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook demo [--dialect 3cx] [--speed X] [--keep]\n\n"+
			"Starts the PBX simulator, the engine connected to it over AMI, and a local\n"+
			"receiver, then plays every built-in scenario and shows the webhooks received.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keep {
		// The inspector (callhook inspect) shows the same run live.
		var scs []*scenario.Scenario
		for _, n := range scenarios.Names() {
			sc, err := scenarios.Load(n)
			if err != nil {
				return err
			}
			scs = append(scs, sc)
		}
		return runInspect(ctx, inspectOptions{sim: o, addr: "127.0.0.1:0", dialects: []string{o.dialect}, keep: true}, scs, stdout, stderr)
	}
	recv := webhooktest.NewServer()
	defer recv.Close()
	target, _ := url.Parse(recv.URL() + "/hook")

	var scs []*scenario.Scenario
	for _, n := range scenarios.Names() {
		sc, err := scenarios.Load(n)
		if err != nil {
			return err
		}
		scs = append(scs, sc)
	}
	fmt.Fprintf(stdout, "callhook demo: PBX simulator + engine (AMI) + receiver at %s, %s dialect, %gx speed\n\n", target, o.dialect, o.speed)
	rep := &report{w: stdout}
	if err := playScenarios(ctx, scs, o, target, stderr, rep); err != nil {
		return err
	}
	rep.summary(target.String())
	reqs := recv.Requests()
	fmt.Fprintf(stdout, "\nThe receiver captured %d request(s):\n", len(reqs))
	for i, r := range reqs {
		fmt.Fprintf(stdout, "%3d  %s %s?%s\n", i+1, r.Method, r.Path, r.RawQuery)
	}
	if rep.failed > 0 {
		return fmt.Errorf("%d webhook(s) not delivered", rep.failed)
	}
	fmt.Fprintf(stdout, "\nRun 'callhook demo --keep' (or 'callhook inspect') to watch them live in the web inspector, or 'callhook sim run %s --dialect 3cx --target URL' to send them to your own receiver.\n", scs[0].Name)
	return nil
}
