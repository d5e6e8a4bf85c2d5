package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/memory"
	"github.com/callhook/callhook/core/service"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the engine's `FILE.ini` (required)")
	verbose := fs.Bool("v", false, "log every signal-level detail (debug, whatever [log] level says)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE` (go tool pprof), for performance reports")
	memprofile := fs.String("memprofile", "", "write a heap profile to `FILE` when stopped, before the engine shuts down (what the open calls hold)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callhook serve --config FILE.ini [-v]\n\n"+
			"Connects to the PBX named in [pbx] and delivers every call event to each\n"+
			"[webhook.NAME] in its dialect. Stops on Ctrl-C or SIGTERM. [log] format = json\n"+
			"writes one JSON object per line to stderr.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		fs.Usage()
		return fmt.Errorf("%w: serve needs --config FILE.ini", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// [log] says text or JSON and the level; -v lowers it to debug.
	log := slog.New(cfg.Log.Handler(stderr, *verbose))
	svc, err := service.New(cfg, service.Options{
		Logger: log,
		OnResult: func(r delivery.Result) {
			if r.OK() {
				// One line per webhook would cost more than the webhook
				// itself at full load; -v shows them, metrics count them.
				// Asked first: the arguments alone cost allocations.
				if !log.Enabled(context.Background(), slog.LevelDebug) {
					return
				}
				log.Debug("webhook delivered", "receiver", r.Request.Receiver, "id", r.Request.ID,
					"status", r.Status, "attempts", r.Attempts, "latency", r.Latency.Round(time.Microsecond))
				return
			}
			log.Error("webhook not delivered", "receiver", r.Request.Receiver, "id", r.Request.ID,
				"attempts", r.Attempts, "error", r.Err)
		},
	})
	if err != nil {
		return err
	}
	log.Info("callhook serving", "config", cfg.File, "pbx", cfg.PBX.Address(), "webhooks", len(cfg.Webhooks))
	if svc.API != nil {
		// The service started it: [api] is configured.
		log.Info("autodial API listening", "addr", "http://"+svc.API.Addr()+"/v1/autodial")
	}
	if svc.Recorder != nil {
		// [recordings]: the service started the HTTPS downloads and the
		// nightly retention; Shutdown lets conversions under way finish.
		log.Info("recording downloads listening", "addr", svc.Recorder.Addr().String(), "links", svc.Recorder.URL())
	}
	go memory.Release(ctx, 0, log)
	err = svc.Run(ctx)
	if *memprofile != "" {
		if perr := writeHeapProfile(*memprofile); perr != nil {
			log.Warn("memprofile not written", "file", *memprofile, "error", perr)
		}
	}
	// Give queued webhooks a moment to go out before exiting.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := svc.Shutdown(sctx); serr != nil {
		log.Warn("stopped with webhooks still queued", "error", serr)
	}
	return err
}

// writeHeapProfile writes the live heap, after a collection, to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
