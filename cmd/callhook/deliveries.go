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
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

const deliveriesUsage = `Usage:
  callhook deliveries list   [flags]       webhooks from the attempt log, newest first
  callhook deliveries show   [flags] ID    one webhook: its attempts as a timeline, and the request
  callhook deliveries replay [flags] ID    send a webhook again (same webhook id)
  callhook deliveries replay [flags]       send again every webhook the filter flags match,
                                           e.g. --status dead --since 1h (a filter is required)
  callhook deliveries enable [flags] NAME  resume a receiver disabled by a 410

--call takes a call's key or any id its receiver saw: a 3CX call id
(261124010057_0-1: every link of the call), a Bulutfon uuid, a VOIPEX
UniqueId. Calls are found by the ids in their stored webhooks, so a call
shows once one of its webhooks was delivered or given up.

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
	switch sub {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, deliveriesUsage)
		return nil
	}
	fs := flag.NewFlagSet("callhook deliveries "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the engine's `FILE.ini` (for admin_listen and admin_token)")
	admin := fs.String("admin", "", "admin API base `URL`, e.g. http://127.0.0.1:9100")
	token := fs.String("token", os.Getenv("CALLHOOK_ADMIN_TOKEN"), "admin `TOKEN`")
	receiver := fs.String("receiver", "", "only this receiver (webhook NAME)")
	call := fs.String("call", "", "only this call: its key or an `ID` its receiver saw (3CX call id, Bulutfon uuid, VOIPEX UniqueId)")
	since := fs.String("since", "", "from `TIME` (RFC 3339) or a duration back from now (15m)")
	until := fs.String("until", "", "up to `TIME` (RFC 3339) or a duration back from now")
	status := fs.String("status", "", "delivered, dead or pending")
	limit := fs.Int("limit", 100, "at most `N` webhooks (replay without an ID: all unless given)")
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
	filter := func(withLimit bool) url.Values {
		q := url.Values{}
		for k, v := range map[string]string{"receiver": *receiver, "call": *call, "since": *since, "until": *until, "status": *status} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if withLimit {
			q.Set("limit", fmt.Sprint(*limit))
		}
		return q
	}
	limitSet := false
	fs.Visit(func(f *flag.Flag) { limitSet = limitSet || f.Name == "limit" })
	switch sub {
	case "list":
		body, err := c.do(ctx, http.MethodGet, "/admin/deliveries?"+filter(true).Encode())
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
	case "replay":
		if len(pos) == 0 {
			q := filter(limitSet)
			if len(filter(false)) == 0 {
				return fmt.Errorf("%w: deliveries replay needs an ID, or filter flags saying which webhooks (--status dead --since 1h)", errUsage)
			}
			body, err := c.do(ctx, http.MethodPost, "/admin/deliveries/replay?"+q.Encode())
			if err != nil {
				return err
			}
			if *asJSON {
				_, err = stdout.Write(body)
				return err
			}
			var res struct {
				Replayed int
				IDs      []string
			}
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("read replay answer: %w", err)
			}
			for _, id := range res.IDs {
				fmt.Fprintln(stdout, id)
			}
			fmt.Fprintf(stdout, "%d webhook(s) queued again\n", res.Replayed)
			return nil
		}
		fallthrough
	case "show", "enable":
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
		if sub == "show" && !*asJSON {
			return showDelivery(stdout, body)
		}
		_, err = stdout.Write(body)
		return err
	}
	fmt.Fprint(stderr, deliveriesUsage)
	return fmt.Errorf("%w: unknown deliveries command %q", errUsage, sub)
}

// showDelivery prints one webhook's log records as a timeline, then the
// request as stored (basic auth and signature are added at each attempt
// and never stored).
func showDelivery(w io.Writer, body []byte) error {
	var recs []outbox.Record
	if err := json.Unmarshal(body, &recs); err != nil {
		return fmt.Errorf("read webhook records: %w", err)
	}
	if len(recs) == 0 {
		return errors.New("the admin API returned no records")
	}
	first, last := recs[0], recs[len(recs)-1]
	var req *delivery.Request
	state := "pending"
	for _, r := range recs {
		if r.Request != nil {
			req = r.Request
		}
		switch r.Kind {
		case outbox.KindDelivered, outbox.KindDead:
			state = fmt.Sprintf("%s after %d attempt(s)", r.Kind, r.N)
		case outbox.KindReplay:
			state = "pending (replayed)"
		}
	}
	fmt.Fprintf(w, "webhook   %s\nreceiver  %s\n", first.ID, first.Receiver)
	if first.CallKey != "" {
		fmt.Fprintf(w, "call      %s\n", first.CallKey)
	}
	fmt.Fprintf(w, "status    %s, last at %s\n\n", state, last.Time.Local().Format("2006-01-02 15:04:05.000"))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tATTEMPT\tHTTP\tLATENCY\tERROR")
	for _, r := range recs {
		n, st, lat := "", "", ""
		if r.N > 0 {
			n = fmt.Sprint(r.N)
		}
		if r.Status != 0 {
			st = fmt.Sprint(r.Status)
		}
		if r.Latency != 0 {
			lat = r.Latency.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05.000"), r.Kind, n, st, lat, r.Err)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if req == nil {
		fmt.Fprintln(w, "\nThe request is stored with its outcome; none yet.")
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nrequest (as stored; signature and basic auth are added at each attempt):\n%s %s\n", methodOf(*req), req.URL)
	writeHeader(&b, req.Header)
	writeBody(&b, req.Body, 0)
	_, err := io.WriteString(w, b.String())
	return err
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
