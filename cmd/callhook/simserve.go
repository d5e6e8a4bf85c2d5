package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// simServeUsage documents `callhook sim serve`, the simulator as a standing
// PBX: an engine (`callhook serve` with [pbx] type = pbxsim or ami) connects
// to its AMI address like to a real Asterisk, and scenarios are played on
// request or on a schedule.
const simServeUsage = `Usage: callhook sim serve [--sip ADDR] [--ami ADDR] [--esl ADDR] [--3cx ADDR] [--control ADDR]
                         [--play NAME,... [--every DURATION]] [--speed X]

Runs the PBX simulator on its own: SIP on --sip, AMI on --ami (the address
an engine's [pbx] section points at), and registered phones for extensions
101-104. With --3cx it also serves the PBX as 3CX v20 does, at http://ADDR:
the Call Control API (/connect/token, /callcontrol, /callcontrol/ws) and
XAPI (/xapi/v1), for an engine with [pbx] type = 3cx, url = http://ADDR,
client_id = 900, client_secret = secret. 3CX's events carry no time, so an
engine on --3cx times them as it hears them: play at --speed 1 for the
scenarios' own durations. It plays the built-in scenarios
('callhook sim list'):

  on request   POST http://CONTROL/play/NAME  plays NAME and answers once
               the PBX is idle again, with JSON {"scenario", "sync",
               "elapsed_ms"}; plays run one at a time.
               GET  /scenarios                the scenario names, one a line
               GET  /healthz                  "ok" once everything is up
  on schedule  --play a,b [--every 1m]        plays the list once at start,
               then again every DURATION (0: once).

With --esl the same calls are also served as FreeSWITCH's event socket
(mod_event_socket, inbound mode: [pbx] type = esl, password --esl-password).

After each scenario the AMI stream carries a UserEvent "CallhookSync" with
the token returned as "sync" (the event socket a CUSTOM callhook::sync). Port 0 in an address picks a free port; the
line "simulator serving" on stderr names the addresses in use.

`

func cmdSimServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook sim serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     sim.Config
		control = fs.String("control", "127.0.0.1:8060", "HTTP control `ADDR` for playing scenarios on request (\"off\": none)")
		play    = fs.String("play", "", "comma-separated scenario `NAMES` to play on a schedule")
		every   = fs.Duration("every", 0, "replay the --play list every `DURATION` (0: once)")
		verbose = fs.Bool("v", false, "log simulator details (debug)")
	)
	fs.StringVar(&cfg.SIPAddr, "sip", "127.0.0.1:5060", "SIP `ADDR` of the simulated PBX (UDP and TCP)")
	fs.StringVar(&cfg.AMIAddr, "ami", "127.0.0.1:5038", "AMI `ADDR` engines connect to")
	fs.StringVar(&cfg.AMIUser, "ami-user", "admin", "AMI `USERNAME`")
	fs.StringVar(&cfg.AMISecret, "ami-secret", "secret", "AMI `SECRET`")
	fs.StringVar(&cfg.ESLAddr, "esl", "", "FreeSWITCH event socket `ADDR` engines connect to (\"\": none; 8021 is FreeSWITCH's port)")
	fs.StringVar(&cfg.ESLPassword, "esl-password", "ClueCon", "event socket `PASSWORD`")
	fs.StringVar(&cfg.ThreeCXAddr, "3cx", "", "also serve 3CX's Call Control API and XAPI on `ADDR` (e.g. 127.0.0.1:5001)")
	fs.StringVar(&cfg.Transport, "transport", "udp", "SIP transport of the simulated phones: udp or tcp")
	fs.Float64Var(&cfg.Speed, "speed", 1, "play scenarios `X` times faster (the PBX clock runs faster too)")
	fs.Usage = func() {
		fmt.Fprint(stderr, simServeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: sim serve takes no arguments, got %q", errUsage, fs.Args())
	}
	if cfg.Transport != "udp" && cfg.Transport != "tcp" {
		return fmt.Errorf("%w: --transport %q (want udp or tcp)", errUsage, cfg.Transport)
	}
	if *every < 0 {
		return fmt.Errorf("%w: --every %s is negative", errUsage, *every)
	}
	var schedule []*scenario.Scenario
	for n := range strings.SplitSeq(*play, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		sc, err := scenarios.Load(n)
		if err != nil {
			return fmt.Errorf("%w: --play: %v", errUsage, err)
		}
		schedule = append(schedule, sc)
	}
	if *every > 0 && len(schedule) == 0 {
		return fmt.Errorf("%w: --every needs --play", errUsage)
	}

	log := newLogger(stderr, *verbose)
	if *verbose {
		cfg.Logger = log
	}
	s, err := sim.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	p := &simPlayer{sim: s, log: log}

	ctlAddr := "off"
	errc := make(chan error, 2)
	if *control != "off" && *control != "" {
		ln, err := net.Listen("tcp", *control)
		if err != nil {
			return fmt.Errorf("listen control %s: %w", *control, err)
		}
		ctlAddr = ln.Addr().String()
		srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve control %s: %w", ctlAddr, err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
	}
	attrs := []any{"sip", s.PBXAddr(), "ami", s.AMIAddr(), "control", ctlAddr, "esl", orOff(s.ESLAddr()), "transport", s.Transport(), "ami_user", s.AMIUser()}
	if cc := s.ThreeCX(); cc != nil {
		attrs = append(attrs, "3cx", cc.URL(), "3cx_client_id", cc.ClientID())
	}
	log.Info("simulator serving", attrs...)

	if len(schedule) > 0 {
		go func() { errc <- p.schedule(ctx, schedule, *every) }()
	}
	select {
	case <-ctx.Done():
		log.Info("simulator stopping")
		return nil
	case err := <-errc:
		return err
	}
}

// simPlayer plays scenarios on a running simulator, one at a time: the
// phones' answer policies are per scenario, so two plays must not overlap.
type simPlayer struct {
	sim *sim.Sim
	log *slog.Logger
	mu  sync.Mutex
}

// playResult is the control API's answer to a play.
type playResult struct {
	Scenario  string `json:"scenario"`
	Sync      string `json:"sync"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// play runs sc, waits until the PBX is idle and raises the sync event.
func (p *simPlayer) play(ctx context.Context, sc *scenario.Scenario) (playResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	if err := p.sim.Play(ctx, sc); err != nil {
		return playResult{}, fmt.Errorf("play %s: %w", sc.Name, err)
	}
	token, err := p.sim.Sync(ctx)
	if err != nil {
		return playResult{}, fmt.Errorf("sync after %s: %w", sc.Name, err)
	}
	res := playResult{Scenario: sc.Name, Sync: token, ElapsedMS: time.Since(start).Milliseconds()}
	p.log.Info("scenario played", "scenario", sc.Name, "sync", token, "elapsed", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// schedule plays the list once, then again every interval (0: once). A
// failed play is logged and the schedule goes on.
func (p *simPlayer) schedule(ctx context.Context, list []*scenario.Scenario, every time.Duration) error {
	for {
		for _, sc := range list {
			if _, err := p.play(ctx, sc); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.log.Error("scheduled scenario failed", "scenario", sc.Name, "error", err)
			}
		}
		if every == 0 {
			return nil
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (p *simPlayer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /scenarios", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, n := range scenarios.Names() {
			fmt.Fprintln(w, n)
		}
	})
	mux.HandleFunc("POST /play/{name}", func(w http.ResponseWriter, r *http.Request) {
		sc, err := scenarios.Load(r.PathValue("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		res, err := p.play(r.Context(), sc)
		if err != nil {
			p.log.Error("scenario failed", "scenario", sc.Name, "error", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
	return mux
}

// orOff shows an address that is not served as "off".
func orOff(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}
