package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

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
	keep := fs.Bool("keep", false, "keep the receiver's inspector running after the scenarios, until Ctrl-C")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook demo [--dialect 3cx] [--speed X] [--keep]\n\n"+
			"Starts the PBX simulator, the engine connected to it over AMI, and a local\n"+
			"receiver, then plays every built-in scenario and shows the webhooks received.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
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
	if !*keep {
		fmt.Fprintf(stdout, "\nRun 'callhook demo --keep' to browse them, or 'callhook sim run %s --dialect 3cx --target URL' to send them to your own receiver.\n", scs[0].Name)
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start inspector: %w", err)
	}
	srv := &http.Server{Handler: inspector(recv), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stdout, "\nInspector: http://%s/  (Ctrl-C to stop)\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// inspector lists what the demo receiver captured, one request a line.
func inspector(recv *webhooktest.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for i, c := range recv.Requests() {
			fmt.Fprintf(w, "%3d  %s  %s %s?%s\n", i+1, c.Time.Format(time.TimeOnly), c.Method, c.Path, c.RawQuery)
			if len(c.Body) > 0 {
				fmt.Fprintf(w, "     %s\n", c.Body)
			}
		}
	})
}
