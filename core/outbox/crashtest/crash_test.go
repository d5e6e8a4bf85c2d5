package crashtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/core/outbox/crashtest"
)

var (
	calls = flag.Int("calls", 200, "calls to play (make soak: 2000)")
	kills = flag.Int("kills", 5, "SIGKILLs of the engine during the run")
)

const token = "crash-test-admin-token-0123456789"

// TestCrashKeepsEveryWebhook plays calls into a real `callhook serve`
// process over AMI, kills it with SIGKILL at random points, restarts it,
// and checks that the receiver got every webhook id at least once, each
// call's in order, and nothing it should not have.
func TestCrashKeepsEveryWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: kills and restarts engine processes; run without -short (make test does, make soak at full size)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	bin := buildCallhook(t)

	perCall, err := crashtest.Calls(filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"), *calls)
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	want, callOf, counts := expected(t, perCall, rcv.url)
	t.Logf("%d calls, %d webhooks expected", *calls, len(callOf))

	src, err := crashtest.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	ini := fmt.Sprintf(`[pbx]
type     = ami
address  = %s
username = admin
secret   = secret
timezone = UTC

[delivery]
dir          = data
admin_listen = 127.0.0.1:0
admin_token  = %s

[webhook.crm]
url            = %s
dialect        = 3cx
allow_private  = true
retry_attempts = 50
retry_min      = 20ms
retry_max      = 200ms
`, src.Addr(), token, rcv.url)
	cfgPath := filepath.Join(dir, "callhook.ini")
	if err := os.WriteFile(cfgPath, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}

	// Batches of calls, each followed by a sync token.
	batch := max(1, *calls/40)
	var batches [][]byte
	for i := 0; i < len(perCall); i += batch {
		var b bytes.Buffer
		for _, c := range perCall[i:min(i+batch, len(perCall))] {
			b.Write(c)
		}
		b.Write(crashtest.SyncEvent("b" + strconv.Itoa(len(batches))))
		batches = append(batches, b.Bytes())
	}

	var acked atomic.Int64 // highest batch the engine acknowledged
	acked.Store(-1)
	eng := startEngine(ctx, t, bin, cfgPath, &acked)

	// The feeder plays batches to the current session, from the first
	// batch not acknowledged whenever a new session starts.
	feedDone := make(chan error, 1)
	go func() {
		gen, next := 0, 0
		for {
			if next >= len(batches) {
				if acked.Load() >= int64(len(batches)-1) {
					feedDone <- nil
					return
				}
				next = len(batches) // wait for acks or a new session
			}
			g, err := src.Session(ctx, 0)
			if err != nil {
				feedDone <- err
				return
			}
			if g != gen {
				gen, next = g, int(acked.Load()+1)
			}
			if next < len(batches) && int64(next) <= acked.Load()+8 {
				if err := src.Send(gen, batches[next]); err == nil {
					next++
				}
				continue
			}
			time.Sleep(2 * time.Millisecond) // waiting for the engine; not a test sleep on behaviour
		}
	}()

	for k := 1; k <= *kills; k++ {
		target := int64(len(batches)*k/(*kills+1) + rand.IntN(3) - 1)
		waitFor(t, 2*time.Minute, fmt.Sprintf("the engine to acknowledge batch %d before kill %d", target, k), func() (bool, string) {
			return acked.Load() >= target, fmt.Sprintf("batch %d of %d acknowledged", acked.Load(), len(batches))
		})
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond) // land anywhere in the next batch
		eng.kill(t)
		durable := 0
		for i := 0; i < min(int(acked.Load()+1)*batch, len(counts)); i++ {
			durable += counts[i]
		}
		got := rcv.distinct()
		t.Logf("kill %d: engine SIGKILLed; %d webhooks acknowledged (batch %d), %d received, so at least %d were only in the outbox",
			k, durable, acked.Load(), got, max(0, durable-got))
		eng = startEngine(ctx, t, bin, cfgPath, &acked)
	}
	if err := <-feedDone; err != nil {
		t.Fatal(err)
	}
	// Everything acknowledged; wait for the receiver to have it all. The
	// check runs either way: on a timeout it lists what is missing.
	defer func() {
		eng.stop(t)
		rcv.check(t, want, callOf)
	}()
	waitFor(t, 30*time.Second+time.Duration(*calls)*10*time.Millisecond, "the receiver to get every webhook", func() (bool, string) {
		n := rcv.distinct()
		return n >= len(callOf), fmt.Sprintf("%d of %d distinct webhooks received", n, len(callOf))
	})
}

type engine struct {
	cmd  *exec.Cmd
	done chan struct{}
}

var adminAddr = regexp.MustCompile(`admin API listening"? addr=(\S+)`)

// startEngine starts callhook serve and polls its admin API for the last
// sync token it handled.
func startEngine(ctx context.Context, t *testing.T, bin, cfg string, acked *atomic.Int64) *engine {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &engine{cmd: cmd, done: make(chan struct{})}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := adminAddr.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[1]
			}
			if testing.Verbose() && bytes.Contains(sc.Bytes(), []byte("level=ERROR")) {
				t.Log(sc.Text())
			}
		}
		_ = cmd.Wait()
		close(e.done)
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case <-e.done:
		t.Fatal("engine exited at start")
	case <-time.After(30 * time.Second):
		t.Fatal("engine did not start its admin API")
	}
	go func() {
		c := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-e.done:
				return
			case <-ctx.Done():
				return
			default:
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/admin/status", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := c.Do(req); err == nil {
				var st struct {
					LastSync string `json:"last_sync"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if n, err := strconv.Atoi(trimB(st.LastSync)); err == nil {
					for cur := acked.Load(); int64(n) > cur && !acked.CompareAndSwap(cur, int64(n)); cur = acked.Load() {
					}
				}
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return e
}

func trimB(s string) string {
	if len(s) > 1 && s[0] == 'b' {
		return s[1:]
	}
	return "x"
}

func (e *engine) kill(t *testing.T) {
	t.Helper()
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.done
}

func (e *engine) stop(t *testing.T) {
	t.Helper()
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(20 * time.Second):
		e.kill(t)
		t.Error("engine did not stop on SIGTERM")
	}
}

// expected renders the calls through the same call model and dialect the
// engine runs: the webhook ids per call, in order.
func expected(t *testing.T, perCall [][]byte, target string) (map[string][]string, map[string]string, []int) {
	t.Helper()
	u, _ := url.Parse(target)
	d := threecx.New("crm", u, threecx.WithLocation(time.UTC))
	m := callmodel.New()
	want, callOf := map[string][]string{}, map[string]string{}
	counts := make([]int, len(perCall)) // webhooks per call
	for i, c := range perCall {
		sigs, err := ami.Decode(bytes.NewReader(c), time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sigs {
			for _, ev := range m.Handle(s) {
				if r, ok := d.Render(ev); ok {
					want[r.CallKey] = append(want[r.CallKey], r.ID)
					callOf[r.ID] = r.CallKey
					counts[i]++
				}
			}
		}
	}
	return want, callOf, counts
}

type receiver struct {
	url  string
	mu   sync.Mutex
	seen []string // every webhook id, in arrival order
	ids  map[string]int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{ids: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("Webhook-Id")
		if rand.IntN(10) == 0 { // a receiver that sometimes fails: retries and a backlog across the crashes
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.mu.Lock()
		rc.seen = append(rc.seen, id)
		rc.ids[id]++
		rc.mu.Unlock()
	})}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.url = "http://" + ln.Addr().String() + "/hook"
	return rc
}

func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.ids)
}

// check: every expected id arrived; nothing unexpected; for each call the
// first arrivals of its ids are in the call's order (a duplicate may come
// later, always with an id already seen).
func (rc *receiver) check(t *testing.T, want map[string][]string, callOf map[string]string) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	firsts := map[string][]string{}
	seen := map[string]bool{}
	dups := 0
	for _, id := range rc.seen {
		call, ok := callOf[id]
		if !ok {
			t.Errorf("unexpected webhook id %q", id)
			continue
		}
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		firsts[call] = append(firsts[call], id)
	}
	missing := 0
	for call, ids := range want {
		got := firsts[call]
		for i, id := range ids {
			if !seen[id] {
				missing++
				continue
			}
			if i >= len(got) || got[i] != id {
				t.Errorf("call %s: webhooks arrived as %v, want %v", call, got, ids)
				break
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d webhooks never arrived", missing, len(callOf))
	}
	t.Logf("received %d requests: %d distinct webhooks of %d expected, %d duplicates (same id)", len(rc.seen), len(seen), len(callOf), dups)
}
