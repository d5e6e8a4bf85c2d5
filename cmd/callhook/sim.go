package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

const simUsage = `Usage:
  callhook sim list [-l]                   the built-in scenarios (-l: with summaries)
  callhook sim run SCENARIO... [flags]     play scenarios through simulator + engine to your receiver
  callhook sim serve [flags]               the simulator alone, for an engine elsewhere

Run 'callhook sim COMMAND --help' for a command's flags.
`

// cmdSim dispatches `callhook sim ...`.
func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, simUsage)
		return fmt.Errorf("%w: sim needs list, run or serve", errUsage)
	}
	switch args[0] {
	case "list":
		return cmdSimList(args[1:], stdout, stderr)
	case "run":
		return cmdSimRun(ctx, args[1:], stdout, stderr)
	case "serve":
		return cmdSimServe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, simUsage)
		return nil
	}
	fmt.Fprint(stderr, simUsage)
	return fmt.Errorf("%w: unknown sim command %q (want list, run or serve)", errUsage, args[0])
}

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

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type simOptions struct {
	dialect, target, profile, transport string
	speed                               float64
	verbose                             bool
}

// receiverFlag is a sim run flag that stands for one key of the
// receiver's [webhook] section.
type receiverFlag struct {
	flag, key, usage string
	value            string
}

// receiverFlags mirror the keys of a [webhook.NAME] section; the dialect
// decides which it takes (the config says when it does not).
func receiverFlags() []*receiverFlag {
	return []*receiverFlag{
		{flag: "profile", key: "profile", usage: "dialect `profile` (3cx: started=incomingcall_started,trtype=Accom; bulutfon: current|legacy)"},
		{flag: "format", key: "format", usage: "body `format`: json or form (bulutfon)"},
		{flag: "events", key: "events", usage: "comma-separated `EVENTS` the receiver gets (default: all of the dialect's)"},
		{flag: "method", key: "method", usage: "HTTP `METHOD` (3cx: GET, POST, PUT, PATCH)"},
		{flag: "signing-secret", key: "signing_secret", usage: "sign each request the Standard Webhooks way with `whsec_...`"},
		{flag: "username", key: "username", usage: "HTTP basic auth `USER` (with --password)"},
		{flag: "password", key: "password", usage: "HTTP basic auth `PASSWORD`"},
		{flag: "pbx-number", key: "pbx_number", usage: "bulutfon: the PBX `NUMBER` the web hook is bound to (see --set did=)"},
		{flag: "domain-id", key: "domain_id", usage: "bulutfon: domain_id in the payloads"},
		{flag: "account-id", key: "account_id", usage: "bulutfon: account_id in the payloads"},
		{flag: "timeout", key: "timeout", usage: "per-attempt `TIMEOUT` (default 10s)"},
	}
}

const simRunUsage = `Usage: callhook sim run SCENARIO|FILE.yaml... --dialect D --target URL [receiver flags]
       callhook sim run SCENARIO|FILE.yaml... --config FILE.ini

Plays the scenarios on the built-in PBX simulator, with the engine connected
to it over AMI, and delivers the webhooks to your receiver. A SCENARIO is a
built-in name ('callhook sim list') or a YAML file (docs/scenarios.md).
Each request is printed as it went out (method, URL, headers, body; basic
auth with its password hidden) with the receiver's answer (status, headers,
the start of the body), then a summary. Exits 0 only when every webhook was
delivered with a 2xx.

The receiver is given by flags that mirror a [webhook.NAME] section, or by
--config FILE.ini, whose [webhook.NAME] sections all receive, checked as
'callhook serve' checks them ([extension.NUM] and the [pbx] timezone are
kept; [pbx] itself may be left out). Its [recordings] section is honoured:
answered calls are recorded, converted with lame into a temporary folder and
served on a free loopback port for the run, and 3cx receivers get the
recording (and analytics) POSTs. [pbx], [delivery] and [api] are the
simulation's: an in-memory outbox and 3 attempts per webhook within about a
second.

--set KEY=VALUE[,KEY=VALUE] rewrites the scenarios' parties:
  ` + setUsage + `

Reports for CI: --report junit:FILE (one testcase per scenario, failures with
their messages) and --report json:FILE; repeatable.

Flags:
`

func cmdSimRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook sim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                   simOptions
		file                string
		headers, opts, sets listFlag
		reports             reportFlag
	)
	fs.StringVar(&file, "config", "", "the receivers' `FILE.ini`: its [webhook.NAME] sections receive")
	fs.StringVar(&o.dialect, "dialect", "", "payload `dialect`: "+strings.Join(dialect.Names(), ", "))
	fs.StringVar(&o.target, "target", "", "receiver `URL` the webhooks go to")
	rflags := receiverFlags()
	for _, rf := range rflags {
		fs.StringVar(&rf.value, rf.flag, "", rf.usage)
	}
	fs.Var(&headers, "header", "extra request header `NAME=VALUE` (repeatable)")
	fs.Var(&opts, "opt", "any other key of a [webhook] section, `KEY=VALUE` (repeatable): stoppedringing=true, cdr_url=...")
	fs.Var(&sets, "set", "rewrite the scenarios' parties: `KEY=VALUE`,... (caller, name, did, callee)")
	fs.Var(&reports, "report", "write a test report, `FORMAT:FILE` with FORMAT junit or json (repeatable)")
	fs.Float64Var(&o.speed, "speed", 1, "play scenarios `X` times faster (the PBX clock runs faster too)")
	fs.StringVar(&o.transport, "transport", "udp", "SIP transport of the simulated phones: udp or tcp")
	fs.BoolVar(&o.verbose, "v", false, "log simulator and engine details to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, simRunUsage)
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: name at least one scenario (see 'callhook sim list') or scenario file", errUsage)
	}
	if o.transport != "udp" && o.transport != "tcp" {
		return fmt.Errorf("%w: --transport %q (want udp or tcp)", errUsage, o.transport)
	}
	var cfg *config.Config
	if file != "" {
		var given []string
		fs.Visit(func(f *flag.Flag) {
			for _, rf := range rflags {
				if f.Name == rf.flag {
					given = append(given, "--"+f.Name)
				}
			}
			switch f.Name {
			case "dialect", "target", "header", "opt":
				given = append(given, "--"+f.Name)
			}
		})
		if len(given) > 0 {
			return fmt.Errorf("%w: %s: the receivers come from --config %s; set these keys in its [webhook.NAME] sections",
				errUsage, strings.Join(given, ", "), file)
		}
		if cfg, err = simFileConfig(file); err != nil {
			return err
		}
	} else {
		if o.dialect == "" || o.target == "" {
			fs.Usage()
			return fmt.Errorf("%w: give --dialect and --target, or --config FILE.ini", errUsage)
		}
		if cfg, err = simFlagConfig(o, rflags, headers, opts); err != nil {
			return err
		}
	}
	scs, err := loadScenarios(names)
	if err != nil {
		return err
	}
	set, err := parseSet(sets)
	if err != nil {
		return err
	}
	topo := pbx.DefaultTopology()
	if err := set.apply(scs, &topo); err != nil {
		return err
	}
	if cfg.Recordings.Enabled() {
		cleanup, err := simRecordings(cfg)
		if err != nil {
			return err
		}
		defer cleanup()
	}

	var names2 []string
	for _, w := range cfg.Webhooks {
		names2 = append(names2, fmt.Sprintf("%s (%s, %s)", w.Name, w.Dialect, w.URL.Redacted()))
	}
	target := strings.Join(names2, ", ")
	fmt.Fprintf(stdout, "callhook sim run: PBX simulator + engine (AMI), %gx speed, webhooks to %s\n\n", o.speed, target)
	rep := &report{w: stdout, full: true}
	tr := &testReport{Name: "callhook sim run", Start: time.Now()}
	hcfg := harness.Config{Engine: cfg, Topology: &topo, Speed: o.speed, Transport: o.transport, OnResult: rep.result,
		Logger: simLogger(o.verbose, stderr, cfg.Log)}
	err = runScenarios(ctx, hcfg, scs, rep, tr)
	if len(cfg.Webhooks) > 1 {
		target = fmt.Sprintf("%d receivers", len(cfg.Webhooks))
	} else {
		target = cfg.Webhooks[0].URL.Redacted()
	}
	rep.summary(target)
	if werr := reports.write(tr); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return err
	}
	if rep.failed > 0 {
		return fmt.Errorf("%d of %d webhooks were not delivered to %s: %v", rep.failed, rep.sent, target, rep.lastErr)
	}
	if rep.sent == 0 {
		return errors.New("the scenarios produced no webhooks (a receiver's events or pbx_number may leave them out: --set did=NUMBER dials its number)")
	}
	return nil
}

// loadScenarios reads built-in scenarios by name and scenario files by
// path (a name with a / or ending in .yaml or .yml).
func loadScenarios(names []string) ([]*scenario.Scenario, error) {
	var scs []*scenario.Scenario
	for _, n := range names {
		if strings.ContainsRune(n, '/') || strings.ContainsRune(n, filepath.Separator) ||
			strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
			f, err := os.Open(n)
			if err != nil {
				return nil, fmt.Errorf("open scenario: %w", err)
			}
			sc, err := scenario.Parse(n, f)
			f.Close()
			if err != nil {
				return nil, err
			}
			scs = append(scs, sc)
			continue
		}
		sc, err := scenarios.Load(n)
		if err != nil {
			return nil, fmt.Errorf("%w (or give a scenario file, ./%s.yaml)", err, n)
		}
		scs = append(scs, sc)
	}
	return scs, nil
}

// simPBX stands in for [pbx] while a configuration is checked; the
// harness replaces it with the simulator's own.
const simPBX = "\n[pbx]\ntype = pbxsim\naddress = 127.0.0.1:5038\nusername = sim\nsecret = sim\n"

// simFileConfig reads a .ini for sim run with every check serve makes. A
// file without [pbx] is taken as it is: the simulator is the PBX.
func simFileConfig(path string) (*config.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	cfg, err := config.Parse(path, strings.NewReader(string(b)))
	var ce *config.Error
	if errors.As(err, &ce) && missingPBX(ce) {
		// Appended, so the lines of the file's own problems stay its own.
		cfg, err = config.Parse(path, strings.NewReader(string(b)+simPBX))
	}
	return cfg, err
}

func missingPBX(ce *config.Error) bool {
	for _, p := range ce.Problems {
		if p.Line == 0 && p.Section == "pbx" {
			return true
		}
	}
	return false
}

// simFlagConfig builds the receiver of the flags as a [webhook.target]
// section and checks it the way a .ini's is checked; problems name the
// flag they came from.
func simFlagConfig(o simOptions, rflags []*receiverFlag, headers, opts listFlag) (*config.Config, error) {
	var b strings.Builder
	line := 0
	from := map[int]string{} // line -> the flag it came from
	put := func(key, value, flagName string) error {
		if strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("%w: %s: the value has a line break", errUsage, flagName)
		}
		line++
		from[line] = flagName
		q := strings.ReplaceAll(strings.ReplaceAll(value, `\`, `\\`), `"`, `\"`)
		fmt.Fprintf(&b, "%s = \"%s\"\n", key, q)
		return nil
	}
	b.WriteString("[webhook.target]\n")
	line++
	var errs []error
	errs = append(errs, put("url", o.target, "--target"), put("dialect", o.dialect, "--dialect"))
	// The receiver is the user's own, wherever it is: sim run has always
	// delivered to private addresses.
	errs = append(errs, put("allow_private", "true", "--target"))
	for _, rf := range rflags {
		if rf.value != "" {
			errs = append(errs, put(rf.key, rf.value, "--"+rf.flag))
		}
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --header %q: want NAME=VALUE", errUsage, h)
		}
		errs = append(errs, put("header."+strings.TrimSpace(k), strings.TrimSpace(v), "--header "+k))
	}
	for _, kv := range opts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --opt %q: want KEY=VALUE", errUsage, kv)
		}
		errs = append(errs, put(strings.TrimSpace(k), strings.TrimSpace(v), "--opt "+k))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	b.WriteString(simPBX)
	cfg, err := config.Parse("command line", strings.NewReader(b.String()))
	var ce *config.Error
	if errors.As(err, &ce) {
		var msgs []string
		for _, p := range ce.Problems {
			name, ok := from[p.Line]
			switch {
			case !ok:
				msgs = append(msgs, p.Msg)
			case strings.HasPrefix(p.Msg, "unknown key"):
				spec, _ := dialect.Lookup(o.dialect)
				msgs = append(msgs, fmt.Sprintf("%s: not a key of the %s dialect (its own: %s; every webhook's: %s)", name, o.dialect,
					strings.Join(slices.Sorted(maps.Keys(spec.Keys)), ", "), strings.Join(commonWebhookKeys, ", ")))
			case p.Key == "username" || p.Key == "password":
				msgs = append(msgs, fmt.Sprintf("%s: %s", name, strings.ReplaceAll(p.Msg, "username", "--username")))
			default:
				msgs = append(msgs, fmt.Sprintf("%s: %s", name, p.Msg))
			}
		}
		return nil, fmt.Errorf("%w: %s", errUsage, strings.Join(msgs, "\n"))
	}
	return cfg, err
}

// commonWebhookKeys are the [webhook.NAME] keys of every dialect that
// sim run has flags for (--opt reaches the rest).
var commonWebhookKeys = []string{"signing_secret", "username", "password", "timeout", "header.NAME"}

// simRecordings points the configuration's [recordings] at a temporary
// folder and a free loopback port: a simulation must not write into a
// production folder or take its port, and its links point here.
func simRecordings(cfg *config.Config) (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "callhook-sim-recordings-")
	if err != nil {
		return nil, fmt.Errorf("recordings folder: %w", err)
	}
	rc := &cfg.Recordings
	rc.Folder, rc.MonitorDir = filepath.Join(dir, "mp3"), filepath.Join(dir, "monitor")
	rc.Listen, rc.BaseURL = "127.0.0.1:0", nil
	rc.CertFile, rc.KeyFile = "", ""
	return func() { os.RemoveAll(dir) }, nil
}

// simLogger logs to stderr with -v, as the configuration's [log] says.
func simLogger(verbose bool, stderr io.Writer, l config.Log) *slog.Logger {
	if !verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(l.Handler(stderr, true))
}

// playScenarios plays scs through simulator + engine to one receiver of
// o's dialect at target (the demo).
func playScenarios(ctx context.Context, scs []*scenario.Scenario, o simOptions, target *url.URL, stderr io.Writer, rep *report) error {
	return runScenarios(ctx, harness.Config{
		Dialect: o.dialect, Profile: o.profile, Target: target,
		Speed: o.speed, Transport: o.transport,
		OnResult: rep.result, Logger: simLogger(o.verbose, stderr, config.Log{}),
	}, scs, rep, nil)
}

// runScenarios starts the simulator and an engine connected to it, and
// plays each scenario, waiting after each until its webhooks are out. With
// tr, each scenario is a case of the report; a scenario that cannot be
// played ends the run, and those after it are listed as not played.
func runScenarios(ctx context.Context, hcfg harness.Config, scs []*scenario.Scenario, rep *report, tr *testReport) error {
	cases := make([]*testCase, len(scs))
	for i, sc := range scs {
		cases[i] = &testCase{Name: sc.Name, Class: "sim run"}
		if tr != nil {
			tr.add(cases[i])
		}
	}
	h, err := harness.Start(ctx, hcfg)
	if err != nil {
		for _, c := range cases {
			c.Failures = append(c.Failures, "not played: the engine did not start: "+err.Error())
		}
		return err
	}
	defer h.Close()
	for i, sc := range scs {
		fmt.Fprintf(rep.w, "== %s: %s\n\n", sc.Name, sc.Summary)
		rep.begin(cases[i])
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := h.Play(pctx, sc)
		cancel()
		rep.begin(nil)
		cases[i].Time = time.Since(start)
		if err != nil {
			cases[i].Failures = append(cases[i].Failures, err.Error())
			for _, c := range cases[i+1:] {
				c.Skipped = "not played: " + sc.Name + " could not be played"
			}
			return err
		}
		c := cases[i]
		fmt.Fprintf(rep.w, "   %s played in %s: %d webhook(s), %d delivered\n\n", sc.Name, c.Time.Round(time.Millisecond), c.Webhooks, c.Delivered)
	}
	return nil
}
