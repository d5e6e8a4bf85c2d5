package esl_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// within bounds every wait: a loaded machine is slow, not wrong.
const within = 60 * time.Second

type fsEvent map[string]string

// stream plays a built-in scenario on the simulator and returns every
// event its event socket sent up to the barrier after it.
func stream(t *testing.T, name string) []fsEvent {
	t.Helper()
	s, err := sim.Start(t.Context(), sim.Config{Speed: 10, ESLAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := net.Dial("tcp", s.ESLAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(within))
	r := bufio.NewReader(conn)
	frame := func() (map[string]string, string, error) {
		h := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, "", err
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				if len(h) == 0 {
					continue
				}
				break
			}
			k, v, _ := strings.Cut(line, ": ")
			h[k] = v
		}
		n, _ := strconv.Atoi(h["Content-Length"])
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return h, string(b), err
	}
	for _, cmd := range []string{"", "auth " + s.ESLPassword(), "event plain ALL"} {
		if cmd != "" {
			fmt.Fprintf(conn, "%s\n\n", cmd)
		}
		if h, _, err := frame(); err != nil || (cmd != "" && !strings.HasPrefix(h["Reply-Text"], "+OK")) {
			t.Fatalf("%q: %v %v", cmd, h, err)
		}
	}
	events := make(chan fsEvent, 1024)
	go func() {
		defer close(events)
		for {
			h, body, err := frame()
			if err != nil {
				return
			}
			if h["Content-Type"] != "text/event-plain" {
				continue
			}
			e := fsEvent{}
			for _, l := range strings.Split(body, "\n") {
				if k, v, ok := strings.Cut(l, ": "); ok {
					if u, err := url.PathUnescape(v); err == nil {
						v = u
					}
					e[k] = v
				}
			}
			events <- e
		}
	}()
	sc, err := scenarios.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if err := s.Play(ctx, sc); err != nil {
		t.Fatalf("play %s: %v", name, err)
	}
	tok, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []fsEvent
	for e := range events {
		if e["Event-Subclass"] == "callhook::sync" && e["Token"] == tok {
			return out
		}
		out = append(out, e)
	}
	t.Fatalf("%s: the stream ended before the barrier", name)
	return nil
}

// legs names the channels by their extension or trunk.
func legs(t *testing.T, evs []fsEvent) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, e := range evs {
		if e["Event-Name"] != "CHANNEL_CREATE" {
			continue
		}
		name := e["Channel-Name"]
		if strings.Contains(name, "Local") || strings.Contains(name, "from-internal") {
			t.Errorf("a Local channel shows: %s", name)
		}
		switch {
		case strings.HasPrefix(name, "sofia/external/"):
			ids["caller"] = e["Unique-ID"]
		case strings.HasPrefix(name, "sofia/internal/101@"):
			ids["101"] = e["Unique-ID"]
		case strings.HasPrefix(name, "sofia/internal/103@"):
			ids["103"] = e["Unique-ID"]
			if e["Other-Type"] != "originator" || e["Other-Leg-Unique-ID"] != ids["101"] {
				t.Errorf("103 originated by %s %s, want 101's leg %s", e["Other-Type"], e["Other-Leg-Unique-ID"], ids["101"])
			}
		default:
			t.Errorf("unexpected channel %s", name)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("channels %v, want the caller's, 101's and 103's", ids)
	}
	return ids
}

// key lists the events that show the att_xfer, by leg name.
func key(evs []fsEvent, ids map[string]string) []string {
	who := map[string]string{}
	for n, id := range ids {
		who[id] = n
	}
	var out []string
	for _, e := range evs {
		n := e["Event-Name"]
		switch n {
		case "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE":
			out = append(out, n+" "+who[e["Bridge-A-Unique-ID"]]+"/"+who[e["Bridge-B-Unique-ID"]])
		case "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE":
			data, _, _ := strings.Cut(e["Application-Data"], "@")
			out = append(out, n+" "+who[e["Unique-ID"]]+" "+e["Application"]+" "+data)
		case "CHANNEL_HANGUP_COMPLETE":
			out = append(out, n+" "+who[e["Unique-ID"]])
		case "CUSTOM":
			if strings.HasPrefix(e["Event-Subclass"], "sofia::") {
				out = append(out, e["Event-Subclass"])
			}
		}
	}
	return out
}

func sameList(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// Asterisk's *2 atxfer shows as FreeSWITCH's att_xfer on 101's leg: 103
// originated from it, their inner bridge, and once 101 hangs up
// uuid_bridge of 103 with the caller, both recording it in
// transfer_history; no Local channel and no sofia transfer event shows.
func TestAttXferFeature(t *testing.T) {
	evs := stream(t, "attended-transfer-feature")
	ids := legs(t, evs)
	want := []string{
		"CHANNEL_BRIDGE caller/101",
		"CHANNEL_EXECUTE 101 att_xfer user/103",
		"CHANNEL_BRIDGE 101/103",
		"CHANNEL_UNBRIDGE 101/103",
		"CHANNEL_UNBRIDGE caller/101",
		"CHANNEL_BRIDGE 103/caller",
		"CHANNEL_EXECUTE_COMPLETE 101 att_xfer user/103",
		"CHANNEL_HANGUP_COMPLETE 101",
		"CHANNEL_UNBRIDGE 103/caller",
		"CHANNEL_HANGUP_COMPLETE 103",
		"CHANNEL_HANGUP_COMPLETE caller",
	}
	if got := key(evs, ids); !sameList(got, want) {
		t.Errorf("key events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range evs {
		if e["Event-Name"] != "CHANNEL_BRIDGE" || e["Bridge-A-Unique-ID"] != ids["103"] {
			continue
		}
		if h := e["variable_transfer_history"]; !strings.HasSuffix(h, ":"+ids["103"]+":uuid_br:"+ids["caller"]) {
			t.Errorf("103's transfer_history %q", h)
		}
		if r := e["variable_att_xfer_result"]; r != "success" {
			t.Errorf("103's att_xfer_result %q", r)
		}
	}
}

// *1 (the cancel key) hangs 103 up and uuid_bridge hands 101 back to
// the caller.
func TestAttXferFeatureCancelled(t *testing.T) {
	evs := stream(t, "attended-transfer-feature-cancelled")
	ids := legs(t, evs)
	want := []string{
		"CHANNEL_BRIDGE caller/101",
		"CHANNEL_EXECUTE 101 att_xfer user/103",
		"CHANNEL_BRIDGE 101/103",
		"CHANNEL_UNBRIDGE 101/103",
		"CHANNEL_HANGUP_COMPLETE 103",
		"CHANNEL_UNBRIDGE caller/101",
		"CHANNEL_EXECUTE_COMPLETE 101 att_xfer user/103",
		"CHANNEL_BRIDGE 101/caller",
		"CHANNEL_UNBRIDGE 101/caller",
		"CHANNEL_HANGUP_COMPLETE 101",
		"CHANNEL_HANGUP_COMPLETE caller",
	}
	if got := key(evs, ids); !sameList(got, want) {
		t.Errorf("key events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range evs {
		if e["Event-Name"] == "CHANNEL_BRIDGE" && e["Bridge-A-Unique-ID"] == ids["101"] && e["Bridge-B-Unique-ID"] == ids["caller"] {
			if h := e["variable_transfer_history"]; !strings.HasSuffix(h, ":"+ids["101"]+":uuid_br:"+ids["caller"]) {
				t.Errorf("101's transfer_history %q", h)
			}
		}
	}
}
