// Command parity plays each built-in scenario on the simulator and on a
// real Asterisk (see conformance/realpbx for how one is chosen) and prints
// the webhooks of both side by side, with their differences. Call ids are
// normalised to the order in which their calls appear (#1-L) and the
// date-time part is dropped, since both differ between any two runs;
// durations may differ by one second.
//
//	go run ./conformance/parity [SCENARIO...]    (make parity)
//
// It exits 1 when a scenario's webhooks differ, 2 when there is no real
// PBX to compare with.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/realpbx"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: parity [SCENARIO...]\n\n%s\n", realpbx.How)
	}
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = scenarios.Names()
	}
	code, err := run(ctx, os.Stdout, names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parity:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, w io.Writer, names []string) (int, error) {
	if err := realpbx.Available(ctx); err != nil {
		return 2, err
	}
	target, err := realpbx.FromEnv(ctx)
	if err != nil {
		return 2, err
	}
	defer target.Close(context.WithoutCancel(ctx))

	differing := 0
	for _, n := range names {
		sc, err := scenarios.Load(n)
		if err != nil {
			return 2, err
		}
		sim, err := playSim(ctx, sc)
		if err != nil {
			return 2, fmt.Errorf("simulator: %w", err)
		}
		ast, err := playReal(ctx, target, sc)
		if err != nil {
			return 2, fmt.Errorf("asterisk: %w", err)
		}
		s, a := normalise(sim), normalise(ast)
		if diffs := report(w, sc.Name, s, alignRinging(s, a)); diffs > 0 {
			differing++
		}
	}
	fmt.Fprintf(w, "\n%d of %d scenario(s) differ\n", differing, len(names))
	if differing > 0 {
		return 1, nil
	}
	return 0, nil
}

// collect plays with a fresh receiver and returns the raw queries (and
// bodies, for dialects that POST) in arrival order.
func collect(ctx context.Context, play func(u *url.URL) error) ([]string, error) {
	recv := webhooktest.NewServer()
	defer recv.Close()
	u, _ := url.Parse(recv.URL() + "/hook")
	if err := play(u); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range recv.Requests() {
		s := c.RawQuery
		if len(c.Body) > 0 {
			s += " " + string(c.Body)
		}
		out = append(out, s)
	}
	return out, nil
}

func playSim(ctx context.Context, sc *scenario.Scenario) ([]string, error) {
	return collect(ctx, func(u *url.URL) error {
		h, err := harness.Start(ctx, harness.Config{Dialect: "3cx", Target: u, Speed: 10})
		if err != nil {
			return err
		}
		defer h.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		return h.Play(pctx, sc)
	})
}

func playReal(ctx context.Context, t *realpbx.Target, sc *scenario.Scenario) ([]string, error) {
	return collect(ctx, func(u *url.URL) error {
		h, err := realpbx.Start(ctx, realpbx.Config{Target: t, Dialect: "3cx", URL: u})
		if err != nil {
			return err
		}
		defer h.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		return h.Play(pctx, sc)
	})
}

// normalise turns each query into sorted key=value lines with the call id
// replaced by #k-L (k: the call's order of appearance).
func normalise(reqs []string) [][]string {
	calls := map[string]int{}
	var out [][]string
	for _, r := range reqs {
		q, _ := url.ParseQuery(strings.SplitN(r, " ", 2)[0])
		var kv []string
		for k, vs := range q {
			for _, v := range vs {
				if k == "id" {
					v = normaliseID(v, calls)
				}
				kv = append(kv, k+"="+v)
			}
		}
		slices.Sort(kv)
		out = append(out, kv)
	}
	return out
}

// alignRinging puts each run of ringing webhooks of ast into sim's order
// when both runs hold the same webhooks: members rung at once (a ring
// group, a ring-all queue) ring in the order their phones answer 180 on a
// real PBX, which is no difference between the two.
func alignRinging(sim, ast [][]string) [][]string {
	ringing := func(kv []string) bool { return slices.Contains(kv, "event=ringing") }
	key := func(kv []string) string { return strings.Join(kv, " ") }
	out := slices.Clone(ast)
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && j < len(sim) && ringing(out[j]) && ringing(sim[j]) {
			j++
		}
		if j == i {
			i++
			continue
		}
		a, b := make([]string, 0, j-i), make([]string, 0, j-i)
		for k := i; k < j; k++ {
			a, b = append(a, key(out[k])), append(b, key(sim[k]))
		}
		slices.Sort(a)
		slices.Sort(b)
		if slices.Equal(a, b) {
			copy(out[i:j], sim[i:j])
		}
		i = j
	}
	return out
}

// normaliseID maps yyMMddHHmmss_N-L to #k-L.
func normaliseID(id string, calls map[string]int) string {
	_, rest, ok := strings.Cut(id, "_")
	if !ok {
		return id
	}
	n, l, ok := strings.Cut(rest, "-")
	if !ok {
		return id
	}
	k, seen := calls[n]
	if !seen {
		k = len(calls) + 1
		calls[n] = k
	}
	return "#" + strconv.Itoa(k) + "-" + l
}

// report prints both sides and returns the number of differences.
func report(w io.Writer, name string, sim, ast [][]string) int {
	fmt.Fprintf(w, "\n== %s\n", name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tsimulator\tasterisk")
	diffs := 0
	var notes []string
	for i := range max(len(sim), len(ast)) {
		var a, b []string
		if i < len(sim) {
			a = sim[i]
		}
		if i < len(ast) {
			b = ast[i]
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", i+1, strings.Join(a, " "), strings.Join(b, " "))
		for _, d := range differences(a, b) {
			diffs++
			notes = append(notes, fmt.Sprintf("  webhook %d: %s", i+1, d))
		}
	}
	tw.Flush()
	if diffs == 0 {
		fmt.Fprintln(w, "same webhooks")
		return 0
	}
	fmt.Fprintf(w, "%d difference(s):\n%s\n", diffs, strings.Join(notes, "\n"))
	return diffs
}

// differences compares two normalised webhooks field by field; durations
// within a second of each other count as equal.
func differences(a, b []string) []string {
	switch {
	case a == nil:
		return []string{"only on asterisk"}
	case b == nil:
		return []string{"only on the simulator"}
	}
	am, bm := fields(a), fields(b)
	var keys []string
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		x, inA := am[k]
		y, inB := bm[k]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("%s only on asterisk (%q)", k, y))
		case !inB:
			out = append(out, fmt.Sprintf("%s only on the simulator (%q)", k, x))
		case x != y && !(k == "duration" && near(x, y)) && !(k == "title" && nearTitles(x, y)):
			out = append(out, fmt.Sprintf("%s: simulator %q, asterisk %q", k, x, y))
		}
	}
	return out
}

func fields(kv []string) map[string]string {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

// clock is a duration as titles write it (mm:ss).
var clock = regexp.MustCompile(`\b(\d{2}):(\d{2})\b`)

// nearTitles reports whether two titles say the same but for durations
// within a second of each other ("duration 00:05" and "duration 00:06").
func nearTitles(x, y string) bool {
	if clock.ReplaceAllString(x, "") != clock.ReplaceAllString(y, "") {
		return false
	}
	a, b := clock.FindAllStringSubmatch(x, -1), clock.FindAllStringSubmatch(y, -1)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		sa, _ := strconv.Atoi(a[i][1])
		sb, _ := strconv.Atoi(b[i][1])
		ta, _ := strconv.Atoi(a[i][2])
		tb, _ := strconv.Atoi(b[i][2])
		if !near(strconv.Itoa(sa*60+ta), strconv.Itoa(sb*60+tb)) {
			return false
		}
	}
	return true
}

func near(x, y string) bool {
	a, err1 := strconv.Atoi(x)
	b, err2 := strconv.Atoi(y)
	return errors.Join(err1, err2) == nil && a-b <= 1 && b-a <= 1
}
