package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/callhook/callhook/core/config"
)

const healthUsage = `Usage: callhook health [--config FILE.ini | --admin ADDR] [--live] [--timeout D]

Asks a running engine whether it is ready: GET /readyz on its admin listener
([delivery] admin_listen), which answers 200 when the PBX is connected and
the outbox takes writes. Exits 0 when ready, 1 with the reasons otherwise.
--live asks /healthz instead (the process serves). Needs no token, so a
container's HEALTHCHECK or a service manager can run it.

Flags:
`

func cmdHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("callhook health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the engine's `FILE.ini` (for [delivery] admin_listen)")
	admin := fs.String("admin", "", "the admin listener, `HOST:PORT` or http://HOST:PORT")
	live := fs.Bool("live", false, "ask /healthz (the process serves) instead of /readyz")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after `D`")
	fs.Usage = func() { fmt.Fprint(stderr, healthUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: health takes no arguments, got %q", errUsage, fs.Args())
	}
	base, err := healthBase(*file, *admin)
	if err != nil {
		return err
	}
	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return fmt.Errorf("health %s: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: engine not answering: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		fmt.Fprintf(stdout, "%s: ok\n", strings.TrimPrefix(path, "/"))
		return nil
	}
	var rd struct{ Reasons []string }
	if json.Unmarshal(body, &rd) == nil && len(rd.Reasons) > 0 {
		return fmt.Errorf("not ready: %s", strings.Join(rd.Reasons, "; "))
	}
	return fmt.Errorf("%s answered %s: %s", base+path, resp.Status, strings.TrimSpace(string(body)))
}

// healthBase is the admin listener's URL from --admin or the config; a
// wildcard listen address is asked on loopback.
func healthBase(file, admin string) (string, error) {
	if admin == "" && file != "" {
		cfg, err := config.Load(file)
		if err != nil {
			return "", err
		}
		if cfg.Delivery.AdminListen == "" {
			return "", fmt.Errorf("%s: [delivery] admin_listen is not set: the engine has no health endpoints", file)
		}
		admin = cfg.Delivery.AdminListen
	}
	if admin == "" {
		return "", fmt.Errorf("%w: give --config FILE.ini or --admin HOST:PORT", errUsage)
	}
	if strings.Contains(admin, "://") {
		return strings.TrimRight(admin, "/"), nil
	}
	host, port, err := net.SplitHostPort(admin)
	if err != nil {
		return "", fmt.Errorf("%w: --admin %q: want HOST:PORT", errUsage, admin)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
