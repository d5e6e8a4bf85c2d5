package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/callhook/callhook/core/config"
)

const deliveriesUsage = `Usage:
  callhook deliveries list   [flags]       webhooks from the attempt log, newest first
  callhook deliveries show   [flags] ID    every attempt of one webhook
  callhook deliveries replay [flags] ID    send a webhook again (same webhook id)
  callhook deliveries enable [flags] NAME  resume a receiver disabled by a 410

Talks to a running engine's admin API: --config FILE.ini reads
[delivery] admin_listen and admin_token, or give --admin URL and --token
(or CALLHOOK_ADMIN_TOKEN).
`

func cmdDeliveries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, deliveriesUsage)
		return fmt.Errorf("%w: deliveries needs list, show, replay or enable", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("callhook deliveries "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the engine's `FILE.ini` (for admin_listen and admin_token)")
	admin := fs.String("admin", "", "admin API base `URL`, e.g. http://127.0.0.1:9100")
	token := fs.String("token", os.Getenv("CALLHOOK_ADMIN_TOKEN"), "admin `TOKEN`")
	receiver := fs.String("receiver", "", "only this receiver (webhook NAME)")
	call := fs.String("call", "", "only this call (the dialect's call key)")
	since := fs.String("since", "", "from `TIME` (RFC 3339) or a duration back from now (15m)")
	until := fs.String("until", "", "up to `TIME` (RFC 3339) or a duration back from now")
	status := fs.String("status", "", "delivered, dead or pending")
	limit := fs.Int("limit", 100, "at most `N` webhooks")
	asJSON := fs.Bool("json", false, "print JSON as the admin API returns it")
	fs.Usage = func() { fmt.Fprint(stderr, deliveriesUsage+"\nFlags:\n"); fs.PrintDefaults() }
	// Flags may follow the positional argument (show ID --config F).
	var pos []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	base, tok, err := adminTarget(*file, *admin, *token)
	if err != nil {
		return err
	}
	c := &adminClient{base: base, token: tok, http: &http.Client{Timeout: 30 * time.Second}}
	switch sub {
	case "list":
		q := url.Values{}
		for k, v := range map[string]string{"receiver": *receiver, "call": *call, "since": *since, "until": *until, "status": *status} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", fmt.Sprint(*limit))
		body, err := c.do(ctx, http.MethodGet, "/admin/deliveries?"+q.Encode())
		if err != nil {
			return err
		}
		if *asJSON {
			_, err = stdout.Write(body)
			return err
		}
		var list []struct {
			ID, Receiver, Call, Status, Error string
			Attempts                          int
			HTTPStatus                        int `json:"http_status"`
			Last                              time.Time
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("read deliveries: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVER\tCALL\tSTATUS\tATTEMPTS\tHTTP\tLAST\tERROR")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.ID, s.Receiver, s.Call, s.Status, s.Attempts, s.HTTPStatus,
				s.Last.Local().Format(time.DateTime), s.Error)
		}
		return tw.Flush()
	case "show", "replay", "enable":
		if len(pos) != 1 {
			return fmt.Errorf("%w: deliveries %s needs one argument", errUsage, sub)
		}
		arg := url.PathEscape(pos[0])
		var body []byte
		switch sub {
		case "show":
			body, err = c.do(ctx, http.MethodGet, "/admin/deliveries/"+arg)
		case "replay":
			body, err = c.do(ctx, http.MethodPost, "/admin/deliveries/"+arg+"/replay")
		default:
			body, err = c.do(ctx, http.MethodPost, "/admin/receivers/"+arg+"/enable")
		}
		if err != nil {
			return err
		}
		_, err = stdout.Write(body)
		return err
	}
	fmt.Fprint(stderr, deliveriesUsage)
	return fmt.Errorf("%w: unknown deliveries command %q", errUsage, sub)
}

func adminTarget(file, admin, token string) (string, string, error) {
	if file != "" {
		cfg, err := config.Load(file)
		if err != nil {
			return "", "", err
		}
		if cfg.Delivery.AdminListen == "" {
			return "", "", fmt.Errorf("%s: [delivery] admin_listen is not set: the engine has no admin API", file)
		}
		if admin == "" {
			admin = "http://" + cfg.Delivery.AdminListen
		}
		if token == "" {
			token = cfg.Delivery.AdminToken.Reveal()
		}
	}
	if admin == "" {
		return "", "", fmt.Errorf("%w: give --config FILE.ini or --admin URL", errUsage)
	}
	return strings.TrimRight(admin, "/"), token, nil
}

type adminClient struct {
	base, token string
	http        *http.Client
}

func (c *adminClient) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin API %s: %w", c.base, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin API %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("admin API %s %s: %s: %w", method, path, resp.Status, errors.New(e.Error))
		}
		return nil, fmt.Errorf("admin API %s %s: %s", method, path, resp.Status)
	}
	return body, nil
}
