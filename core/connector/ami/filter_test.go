package ami

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
	pbxami "github.com/callhook/callhook/pbxsim/ami"
)

// asteriskFilters are EventFilters as Asterisk applies them (pbxsim's
// Filters follow main/manager.c).
func asteriskFilters(t *testing.T, key string) *pbxami.Filters {
	t.Helper()
	var f pbxami.Filters
	for _, ef := range EventFilters(key) {
		if ok, msg := pbxami.FilterAction(&f, "Add", ef.MatchCriteria, ef.Filter); !ok {
			t.Fatalf("filter %+v refused: %s", ef, msg)
		}
	}
	return &f
}

// The event filters let through, of every event of every real Asterisk
// capture, exactly what the connector itself keeps: wanted, and DTMFEnd
// of the callback key (queueCallers.wants, less its check that the
// channel waits in a queue).
func TestEventFiltersKeepWhatWantedKeeps(t *testing.T) {
	captures, err := filepath.Glob(filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", "*.log"))
	if err != nil || len(captures) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, key := range []string{"", "5", "*", "#"} {
		f := asteriskFilters(t, key)
		digit := []byte(cmp.Or(key, DefaultCallbackKey))
		kept, all := 0, 0
		for _, path := range captures {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, pkt := range bytes.SplitAfter(raw, []byte("\r\n\r\n")) {
				// Responses and the event lists answering actions are
				// not filtered.
				if !bytes.HasPrefix(pkt, []byte("Event: ")) || bytes.Contains(pkt, []byte("\r\nActionID: ")) {
					continue
				}
				var keep bool
				pr := newPacketReader(bytes.NewReader(pkt))
				pr.keep = func(p rawPacket) bool {
					keep = wanted(p) || bytes.Equal(p.get("Event"), []byte("DTMFEnd")) && bytes.Equal(p.get("Digit"), digit)
					return false
				}
				if _, err := pr.ReadPacket(); !errors.Is(err, io.EOF) {
					t.Fatalf("%s: read %q: %v", path, pkt, err)
				}
				all++
				if keep {
					kept++
				}
				if pass := f.Pass(pkt); pass != keep {
					t.Errorf("callback key %q, %s: the filters pass %v, the connector keeps %v:\n%s", key, filepath.Base(path), pass, keep, pkt)
				}
			}
		}
		if key == "" {
			t.Logf("%d of %d events pass the filters", kept, all)
		}
	}
}

// One name() per translated event; Newexten only for the applications
// wanted reads, in any case.
func TestEventFiltersShape(t *testing.T) {
	names := map[string]bool{}
	for _, f := range EventFilters("") {
		names[f.MatchCriteria] = true
	}
	for name := range translators {
		if name != "Newexten" && !names["name("+name+")"] {
			t.Errorf("no filter for %s", name)
		}
	}
	if got := foldRegex("Dial_1.x"); got != `[Dd][Ii][Aa][Ll]_1\.[Xx]` {
		t.Errorf("foldRegex = %q", got)
	}
	f := asteriskFilters(t, "")
	for _, tt := range []struct {
		app  string
		pass bool
	}{
		{"MixMonitor", true}, {"Dial", true}, {"BackGround", true}, {"Background", true}, {"WaitExten", true},
		{"Read", true}, {"ReceiveFAX", true}, {"NoOp", false}, {"AppDial", false}, {"Set", false}, {"Dial2", false},
	} {
		ev := "Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/101-00000001\r\nApplication: " + tt.app + "\r\nAppData: x\r\n\r\n"
		if got := f.Pass([]byte(ev)); got != tt.pass {
			t.Errorf("Newexten of %s: pass %v, want %v", tt.app, got, tt.pass)
		}
	}
}

const (
	filterOK           = "Response: Success\r\nActionID: %s\r\nMessage: Success\r\n\r\n"
	filterDenied       = "Response: Error\r\nActionID: %s\r\nMessage: Permission denied\r\n\r\n"
	filterBad          = "Response: Error\r\nActionID: %s\r\nMessage: Filter was formatted incorrectly.  Check the syntax of the filter given.\r\n\r\n"
	filteredNewchannel = "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/101-00000001\r\nUniqueid: %s\r\nLinkedid: %[1]s\r\n\r\n"
)

// filtered is what a scripted server saw of one session's filters.
type filtered struct {
	sc      *serverConn
	filters int    // Filter actions read
	next    string // the first other action, "" if the connection ended first
}

// filterScript serves sessions that answer Filter actions with answer
// (given the filter's place, from 0): the first alone, the others only
// once all of them were read, which a connector waiting for each answer
// would never let happen. An event goes out right after the Login's
// answer. Each session is reported once its first other action came;
// Ping is answered, and the session goes on serving.
func filterScript(t *testing.T, answer func(i int) string) (*testServer, chan filtered) {
	n := len(EventFilters(""))
	out := make(chan filtered, 8)
	ts := newTestServer(t, func(sc *serverConn) {
		if _, ok := sc.login(banner, loginOK); !ok {
			return
		}
		_ = sc.write(fmt.Sprintf(filteredNewchannel, "1.1"))
		f := filtered{sc: sc}
		var ids []string
		m, err := sc.readAction()
		for err == nil && m.Get("Action") == "Filter" {
			if m.Get("Operation") != "Add" || m.Get("MatchCriteria") == "" {
				t.Errorf("connection %d: Filter action %v", sc.n, m)
			}
			if f.filters == 0 && sc.br.Buffered() > 0 {
				t.Errorf("connection %d: more sent before the first filter was answered", sc.n)
			}
			f.filters++
			ids = append(ids, m.Get("ActionID"))
			if f.filters == 1 || f.filters == n {
				for j, id := range ids {
					_ = sc.write(fmt.Sprintf(answer(f.filters-len(ids)+j), id))
				}
				ids = ids[:0]
			}
			m, err = sc.readAction()
		}
		if err == nil {
			f.next = m.Get("Action")
		}
		out <- f
		if err == nil && f.next == "Ping" {
			_ = sc.write("Response: Success\r\nActionID: " + m.Get("ActionID") + "\r\nPing: Pong\r\nTimestamp: 1795482070.000000\r\n\r\n")
			sc.serveActions(nil)
		}
	})
	return ts, out
}

func filterConfig(addr string, logs *syncBuffer) Config {
	cfg := testConfig(addr)
	cfg.NoEventFilter = false
	cfg.Logger = bufferLogger(logs)
	return cfg
}

func next(t *testing.T, ch chan filtered) filtered {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(waitFor):
		t.Fatalf("no session within %s", waitFor)
		return filtered{}
	}
}

// Accepted filters: the first alone, the rest at once; the events read
// meanwhile are handled first, then those after.
func TestEventFiltersAccepted(t *testing.T) {
	ts, sessions := filterScript(t, func(int) string { return filterOK })
	logs := &syncBuffer{}
	rec := newRecorder()
	startRun(t, filterConfig(ts.addr, logs), rec)
	f := next(t, sessions)
	if n := len(EventFilters("")); f.filters != n || f.next != "Ping" {
		t.Fatalf("session got %d filters then %q, want %d then the resync's Ping", f.filters, f.next, n)
	}
	rec.expectKind(t, signal.Connected)
	if s := rec.expectKind(t, signal.LegAppeared); s.Leg.ID != "1.1" {
		t.Errorf("got %s, want the channel raised while the filters were added", show(s))
	}
	_ = f.sc.write(fmt.Sprintf(filteredNewchannel, "1.2"))
	if s := rec.expectKind(t, signal.LegAppeared); s.Leg.ID != "1.2" {
		t.Errorf("got %s, want the channel raised after the filters", show(s))
	}
	if !strings.Contains(logs.String(), `msg="ami event filters added"`) || !strings.Contains(logs.String(), fmt.Sprintf("filters=%d", len(EventFilters("")))) {
		t.Errorf("log lacks the filters:\n%s", logs)
	}
}

// A PBX that refuses the first filter (its user lacks the system write
// class) keeps the session unfiltered; each session asks again, and the
// refusal is logged at Info once.
func TestEventFiltersRefused(t *testing.T) {
	ts, sessions := filterScript(t, func(int) string { return filterDenied })
	logs := &syncBuffer{}
	rec := newRecorder()
	startRun(t, filterConfig(ts.addr, logs), rec)
	for i := range 2 {
		f := next(t, sessions)
		if f.filters != 1 || f.next != "Ping" {
			t.Fatalf("session %d got %d filters then %q, want 1 then the resync's Ping", i+1, f.filters, f.next)
		}
		rec.expectKind(t, signal.Connected)
		if s := rec.expectKind(t, signal.LegAppeared); s.Leg.ID != "1.1" {
			t.Errorf("session %d: got %s, want the channel raised while the filter was refused", i+1, show(s))
		}
		_ = f.sc.write(fmt.Sprintf(filteredNewchannel, "1.2"))
		if s := rec.expectKind(t, signal.LegAppeared); s.Leg.ID != "1.2" {
			t.Errorf("session %d: got %s, want the channel raised after", i+1, show(s))
		}
		f.sc.conn.Close()
		rec.expectKind(t, signal.Disconnected)
	}
	if n := strings.Count(logs.String(), `level=INFO msg="the PBX refused event filters; filtering here"`); n != 1 || !strings.Contains(logs.String(), `message="Permission denied"`) {
		t.Errorf("the refusal logged at Info %d times, want once:\n%s", n, logs)
	}
}

// A filter refused after others were accepted leaves the session getting
// only what those name: it is dropped, and the connector reconnects
// without filters.
func TestEventFiltersRefusedLater(t *testing.T) {
	ts, sessions := filterScript(t, func(i int) string {
		if i == 3 {
			return filterBad
		}
		return filterOK
	})
	logs := &syncBuffer{}
	rec := newRecorder()
	startRun(t, filterConfig(ts.addr, logs), rec)
	if f := next(t, sessions); f.filters != len(EventFilters("")) || f.next != "" {
		t.Fatalf("first session got %d filters then %q, want all, then the connection closed", f.filters, f.next)
	}
	if f := next(t, sessions); f.filters != 0 || f.next != "Ping" {
		t.Fatalf("second session got %d filters then %q, want none", f.filters, f.next)
	}
	rec.expectKind(t, signal.Connected) // only the second session was one
	for _, want := range []string{"reconnecting without filters", "ami: event filter refused", "Filter was formatted incorrectly"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// [pbx] event_filter: unset means yes.
func TestEventFilterKey(t *testing.T) {
	for _, tt := range []struct {
		v        string
		off, bad bool
	}{
		{"", false, false}, {"yes", false, false}, {"on", false, false}, {"True", false, false},
		{"no", true, false}, {"off", true, false}, {"0", true, false}, {"maybe", false, true},
	} {
		if got := noEventFilter(tt.v); got != tt.off {
			t.Errorf("event_filter = %q: off %v, want %v", tt.v, got, tt.off)
		}
		if err := checkYesNo(tt.v); (err != nil) != (tt.bad || tt.v == "") {
			t.Errorf("checkYesNo(%q) = %v", tt.v, err)
		}
	}
}
