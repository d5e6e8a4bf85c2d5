// Command callhook watches a live PBX and sends the webhooks each receiver's
// dialect expects; it also runs the PBX simulator and its scenarios.
//
// Usage:
//
//	callhook serve --config FILE.ini
//	callhook demo
//	callhook inspect [SCENARIO...]
//	callhook sim list
//	callhook sim run SCENARIO... --dialect 3cx --target URL [--speed X] [--profile NAME]
//	callhook conformance [--dialect D] [SCENARIO...]
//	callhook health [--config FILE.ini | --admin ADDR]
//	callhook version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `callhook - telephony webhooks from a live PBX

Usage:
  callhook serve --config FILE.ini     run the engine against the PBX in [pbx]
  callhook demo                        simulator + engine + local receiver, built-in scenarios
  callhook inspect [SCENARIO...]       the same, shown live in a web inspector (SIP, events, webhooks, rules)
  callhook sim list                    list the built-in scenarios
  callhook sim run SCENARIO|FILE.yaml... --dialect 3cx --target URL | --config FILE.ini
                                       play scenarios through simulator + engine to your receiver
  callhook conformance [SCENARIO...]   scenarios x every dialect, checked against the vendor documents
  callhook deliveries list|show|replay|enable   a running engine's attempt log, replay (admin API)
  callhook health --config FILE.ini    is the running engine ready (PBX connected, outbox writable)
  callhook version                     version and VCS revision of this build

Run 'callhook COMMAND --help' (or 'callhook help COMMAND') for a command's options.
`

// errUsage marks a command line that could not be understood; main prints
// the usage and exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "callhook:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "callhook:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(ctx, args[1:], stdout, stderr)
	case "conformance":
		return cmdConformance(ctx, args[1:], stdout, stderr)
	case "deliveries":
		return cmdDeliveries(ctx, args[1:], stdout, stderr)
	case "health":
		return cmdHealth(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		return cmdVersion(args[1:], stdout, stderr)
	case "sim":
		return cmdSim(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && args[0] == "help" {
			// callhook help sim run: that command's --help.
			return run(ctx, append(args[1:len(args):len(args)], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
