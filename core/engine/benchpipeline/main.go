// Command benchpipeline measures the whole engine, as operators run it:
// a real `callhook serve` process reads AMI events over TCP from a
// generator (calls shaped like the real Asterisk 22 capture of an
// answered inbound call), runs them through the call model and the 3cx
// dialect into its durable outbox, and delivers the webhooks to a
// loopback receiver. In the same run, a Go net/http fan-out of the very
// requests the engine sent, to the same receiver, is the baseline. It
// reports webhooks per second and their ratio, the engine's CPU time per
// webhook, event→receiver latency at a steady 1,000 AMI events/s, and the
// engine's resident memory with 10,000 calls in flight, and how long
// `callhook conformance` takes, and says which targets are met (make
// bench-pipeline).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callhook/callhook/core/outbox/crashtest"
)

var (
	bin      = flag.String("bin", "", "the callhook binary (default: build it)")
	calls    = flag.Int("calls", 20000, "calls in the throughput run (3 webhooks each)")
	inflight = flag.Int("inflight", 10000, "calls held open for the memory reading")
	rate     = flag.Int("rate", 1000, "AMI events per second of the latency run")
	seconds  = flag.Int("seconds", 10, "length of the latency run")
	capture  = flag.String("capture", "fixtures/ami/asterisk22/01_inbound_answered.log", "the call every generated call is shaped like")
	keep     = flag.Bool("keep", false, "keep the engine's folder (logs, outbox)")
	memory   = flag.Bool("memory", false, "the engine keeps its outbox in memory (no durability), to see what durability costs")
	noStore  = flag.Bool("no-store", false, "build callhook with -tags benchnostore: no outbox at all, each request goes straight to the dispatcher (no durability), to see what the rest of the pipeline costs")
	parts    = flag.Int("partitions", 0, "the engine's outbox partitions ([delivery] partitions; 0: the default)")
	profile  = flag.String("cpuprofile", "", "write the engine's CPU profile of the throughput run to `FILE`")
	heap     = flag.String("memprofile", "", "write the engine's heap profile with the calls in flight to `FILE`")
	conf     = flag.Bool("conformance", true, "also time `callhook conformance` (every scenario × dialect)")
	filter   = flag.Bool("event-filter", true, "the engine asks the AMI source to filter its events ([pbx] event_filter); the source filters as Asterisk would")
	rcvKind  = flag.String("receiver", "minimal", "the receiver both the engine and the baseline send to: minimal (a bare HTTP/1.1 loop, the least CPU a receiver can take) or net/http (a net/http server, as most receivers are written)")
)

// The generator feeds batches of feedBatch calls and keeps at most
// feedAhead webhooks' worth of calls ahead of the receiver: the engine's
// reader never waits for its handler, and drops a session the handler is
// more than backlog.Max signals behind, so a stream poured in at once
// measures that limit, not the pipeline.
const (
	feedBatch = 100
	feedAhead = 2000 * webhooksPerCl
)

// Targets on 2 cores (issue "The whole pipeline at the speed of its parts").
const (
	targetRatio  = 0.5
	targetPerSec = 20000
	targetP99    = 20 * time.Millisecond
	targetRSSMB  = 100
	// every scenario × dialect, `callhook conformance`
	targetConformance = 60 * time.Second
	webhooksPerCl     = 3 // ringing, hangupincoming, incoming
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchpipeline:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "benchpipeline-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Println("engine folder:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	exe := *bin
	if *noStore && exe != "" {
		return fmt.Errorf("-no-store builds its own callhook (with -tags benchnostore): leave -bin out")
	}
	if exe == "" {
		exe = filepath.Join(dir, "callhook")
		args := []string{"build", "-o", exe}
		if *noStore {
			args = append(args, "-tags", "benchnostore")
		}
		fmt.Println("building callhook …")
		out, err := exec.Command("go", append(args, "github.com/callhook/callhook/cmd/callhook")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("build callhook: %w\n%s", err, out)
		}
	}
	rcv, err := newReceiver(*rcvKind)
	if err != nil {
		return err
	}
	defer rcv.close()

	// 1. Throughput: every call at once, as fast as the engine takes them.
	all, err := crashtest.Calls(*capture, *calls)
	if err != nil {
		return err
	}
	n := *calls * webhooksPerCl
	eng, src, err := start(ctx, exe, dir, "throughput", rcv.url, *profile, "")
	if err != nil {
		return err
	}
	defer eng.stop()
	rcv.reset(n, true)
	// Asterisk filters on its own cores: the source does it before the
	// clock starts.
	var raw, stream int
	var batches [][]byte
	for i := 0; i < len(all); i += feedBatch {
		var b bytes.Buffer
		for _, c := range all[i:min(i+feedBatch, len(all))] {
			b.Write(c)
		}
		f, err := src.Filter(1, b.Bytes())
		if err != nil {
			return fmt.Errorf("filter the engine's stream: %w", err)
		}
		raw, stream = raw+b.Len(), stream+len(f)
		batches = append(batches, f)
	}
	cpu0, self0 := eng.cpu(), selfCPU()
	began := time.Now()
	if err := feed(ctx, src, rcv, batches, func(int) int { return feedBatch * webhooksPerCl }); err != nil {
		return fmt.Errorf("feed the engine: %w", err)
	}
	fed := time.Since(began)
	if err := rcv.wait(ctx, "the throughput run's webhooks"); err != nil {
		return err
	}
	took := time.Since(began)
	cpu, self := eng.cpu()-cpu0, selfCPU()-self0
	eng.stop()
	src.Close()
	enginePerSec := float64(n) / took.Seconds()
	cpuPer, selfPer := cpu/time.Duration(n), self/time.Duration(n)

	// 2. The baseline: the same requests, fanned out by net/http. Client
	// and receiver are both this process, so its CPU is theirs.
	reqs := rcv.recorded()
	self0 = selfCPU()
	basePerSec, err := fanOut(ctx, rcv, reqs)
	if err != nil {
		return err
	}
	basePer := (selfCPU() - self0) / time.Duration(len(reqs))

	// 3. Latency at a steady rate.
	eng, src, err = start(ctx, exe, dir, "latency", rcv.url, "", "")
	if err != nil {
		return err
	}
	defer eng.stop()
	p50, p99, err := latency(ctx, rcv, src)
	eng.stop()
	src.Close()
	if err != nil {
		return err
	}

	// 4. Memory with calls in flight: half ringing, half answered.
	eng, src, err = start(ctx, exe, dir, "memory", rcv.url, "", *heap)
	if err != nil {
		return err
	}
	defer eng.stop()
	idle := eng.rss()
	rss, err := inFlight(ctx, rcv, src, eng, *inflight)
	peak := eng.peak()
	eng.stop()
	src.Close()
	if err != nil {
		return err
	}

	// 5. Every scenario × dialect on the simulator, as `callhook
	// conformance` plays them.
	var confTook time.Duration
	confErr := errors.New("not run (-conformance=false)")
	if *conf {
		confTook, confErr = conformance(ctx, exe)
	}

	ratio := enginePerSec / basePerSec
	store := "durable outbox"
	switch {
	case *noStore:
		store = "NO outbox, no durability (-no-store)"
	case *memory:
		store = "outbox in memory, no durability (-memory)"
	}
	fmt.Printf("\nwhole pipeline (AMI over TCP → callhook serve → 3cx webhooks, %s), %d calls, %d webhooks, event filters %s, %s receiver\n",
		store, *calls, n, yesNo(*filter), *rcvKind)
	fmt.Printf("  engine    %8.0f webhooks/s   engine CPU %s per webhook\n", enginePerSec, us(cpuPer))
	fmt.Printf("            the engine had read the AMI stream (%.0f MB of %.0f MB before filters) after %.1f s of %.1f s\n",
		mb(int64(stream)), mb(int64(raw)), fed.Seconds(), took.Seconds())
	fmt.Printf("            the generator and the receiver took %s of CPU per webhook beside it\n", us(selfPer))
	fmt.Printf("  baseline  %8.0f webhooks/s   (net/http fan-out of the same %d requests to the same receiver), client and receiver %s of CPU per request\n",
		basePerSec, len(reqs), us(basePer))
	fmt.Printf("  ratio     %8.2f\n", ratio)
	// Both runs use every core: a rate is the cores over the CPU per
	// webhook, so the ratio is the baseline's CPU per request over the
	// engine's plus what runs beside it.
	fmt.Printf("            on saturated cores the ratio is %s / (%s + %s) = %.2f; %.1f asks for the engine at %s per webhook\n",
		us(basePer), us(cpuPer), us(selfPer), float64(basePer)/float64(cpuPer+selfPer), targetRatio,
		us(max(0, time.Duration(float64(basePer)/targetRatio)-selfPer)))
	fmt.Printf("latency event→receiver at %d AMI events/s: p50 %s, p99 %s\n", *rate, ms(p50), ms(p99))
	fmt.Printf("memory: %d calls in flight (half ringing, half answered): RSS %.1f MB (idle %.1f MB), %.1f kB per call; peak while they came in %.1f MB\n",
		*inflight, mb(rss), mb(idle), float64(rss-idle)/float64(*inflight)/1024, mb(peak))
	if confErr != nil {
		fmt.Printf("callhook conformance: %v\n", confErr)
	} else {
		fmt.Printf("callhook conformance (every scenario × dialect on the simulator): %.1f s\n", confTook.Seconds())
	}
	fmt.Println()
	verdict := func(ok bool, what string) {
		mark := "met    "
		if !ok {
			mark = "NOT met"
		}
		fmt.Printf("  target %s  %s\n", mark, what)
	}
	verdict(ratio >= targetRatio, fmt.Sprintf("ratio ≥ %.1f × baseline (%.2f)", targetRatio, ratio))
	verdict(enginePerSec >= targetPerSec, fmt.Sprintf("≥ %d webhooks/s (%.0f)", targetPerSec, enginePerSec))
	verdict(p99 < targetP99, fmt.Sprintf("p99 < %s at %d events/s (%s)", targetP99, *rate, ms(p99)))
	verdict(mb(rss) < targetRSSMB, fmt.Sprintf("RSS < %d MB with %d calls in flight (%.1f MB)", targetRSSMB, *inflight, mb(rss)))
	switch {
	case !*conf:
		fmt.Printf("  target not run  callhook conformance < %s (-conformance=false)\n", targetConformance)
	case confErr != nil:
		verdict(false, fmt.Sprintf("callhook conformance < %s (%v)", targetConformance, confErr))
	default:
		verdict(confTook < targetConformance, fmt.Sprintf("callhook conformance < %s (%.1f s)", targetConformance, confTook.Seconds()))
	}
	return nil
}

// conformance runs `callhook conformance` and returns how long it took;
// a failed scenario is an error, with the runner's last lines.
func conformance(ctx context.Context, exe string) (time.Duration, error) {
	began := time.Now()
	out, err := exec.CommandContext(ctx, exe, "conformance").CombinedOutput()
	took := time.Since(began)
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return took, fmt.Errorf("failed after %.1f s: %w\n%s", took.Seconds(), err, strings.Join(lines[max(0, len(lines)-10):], "\n"))
	}
	return took, nil
}

// engine is a running `callhook serve`.
type engine struct {
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

var adminAddr = regexp.MustCompile(`admin API listening"? addr=(\S+)`)

// start runs callhook serve on a fresh outbox in dir/name, connected to a
// new AMI source, and returns once it has logged in.
func start(ctx context.Context, exe, dir, name, url, profile, heap string) (*engine, *crashtest.Source, error) {
	src, err := crashtest.NewSource()
	if err != nil {
		return nil, nil, err
	}
	extraDelivery := ""
	if *memory {
		extraDelivery = "memory = true\n"
	}
	if *parts > 0 {
		extraDelivery += fmt.Sprintf("partitions = %d\n", *parts)
	}
	work := filepath.Join(dir, name)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, nil, err
	}
	ini := fmt.Sprintf(`[pbx]
type     = ami
address  = %s
username = admin
secret   = secret
timezone = UTC
event_filter = %s

[delivery]
dir          = data
%s

[webhook.crm]
url           = %s
dialect       = 3cx
allow_private = true
`, src.Addr(), yesNo(*filter), extraDelivery, url)
	cfg := filepath.Join(work, "callhook.ini")
	if err := os.WriteFile(cfg, []byte(ini), 0o600); err != nil {
		return nil, nil, err
	}
	args := []string{"serve", "--config", cfg}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	if heap != "" {
		args = append(args, "--memprofile", heap)
	}
	cmd := exec.Command(exe, args...)
	logf, err := os.Create(filepath.Join(work, "engine.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start callhook serve: %w", err)
	}
	e := &engine{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(e.done) }()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := src.Session(sctx, 0); err != nil {
		e.stop()
		return nil, nil, fmt.Errorf("the engine did not log in to the AMI source within 60 s (log: %s): %w", logf.Name(), err)
	}
	return e, src, nil
}

// stop ends the engine, once; a run that fails leaves none behind.
func (e *engine) stop() {
	e.once.Do(func() {
		_ = e.cmd.Process.Signal(os.Interrupt)
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.done
		}
	})
}

// cpu is the process's user and system CPU time (/proc/PID/stat).
func (e *engine) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in its parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// selfCPU is this process's user and system CPU time: the generator's
// and the receiver's, and in the baseline the client's too.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss is the process's resident set (/proc/PID/status VmRSS), in bytes.
func (e *engine) rss() int64 { return e.status("VmRSS:") }

// peak is the highest resident set the process had (VmHWM), in bytes.
func (e *engine) peak() int64 { return e.status("VmHWM:") }

func (e *engine) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// latency plays calls at rate AMI events/s for the configured seconds, each
// call's events written together, and measures each webhook's arrival
// after its call was written.
func latency(ctx context.Context, rcv *receiver, src *crashtest.Source) (p50, p99 time.Duration, err error) {
	one, err := crashtest.Calls(*capture, 1)
	if err != nil {
		return 0, 0, err
	}
	perCall := bytes.Count(one[0], []byte("\r\nEvent: ")) + 1
	callsPerSec := max(1, *rate/perCall)
	total := callsPerSec * *seconds
	cs, err := crashtest.Calls(*capture, total)
	if err != nil {
		return 0, 0, err
	}
	rcv.reset(total*webhooksPerCl, false)
	gap := time.Second / time.Duration(callsPerSec)
	next := time.Now()
	for i, c := range cs {
		time.Sleep(time.Until(next))
		rcv.sent(i, time.Now())
		if err := src.Send(1, c); err != nil {
			return 0, 0, fmt.Errorf("feed call %d: %w", i, err)
		}
		next = next.Add(gap)
	}
	if err := rcv.wait(ctx, "the latency run's webhooks"); err != nil {
		return 0, 0, err
	}
	p50, p99 = rcv.percentiles()
	return p50, p99, nil
}

// inFlight leaves n calls open, half ringing and half answered, waits
// until their webhooks arrived, and reads the engine's memory then.
func inFlight(ctx context.Context, rcv *receiver, src *crashtest.Source, eng *engine, n int) (int64, error) {
	cs, err := crashtest.Calls(*capture, n)
	if err != nil {
		return 0, err
	}
	var batches [][]byte
	var hooks []int
	want := 0
	for i := 0; i < len(cs); i += feedBatch {
		var b bytes.Buffer
		h := 0
		for j, c := range cs[i:min(i+feedBatch, len(cs))] {
			stop := "DialStatus: RINGING" // ringing: everything up to the dial's RINGING
			if (i+j)%2 == 1 {
				stop = "Event: BridgeEnter" // answered: up to the first bridge
			}
			for p := range strings.SplitSeq(string(c), "\r\n\r\n") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				b.WriteString(p)
				b.WriteString("\r\n\r\n")
				if strings.Contains(p, stop) {
					break
				}
			}
			h += 1 + (i+j)%2 // ringing; answered adds hangupincoming
		}
		f, err := src.Filter(1, b.Bytes())
		if err != nil {
			return 0, fmt.Errorf("filter the open calls: %w", err)
		}
		batches, hooks = append(batches, f), append(hooks, h)
		want += h
	}
	rcv.reset(want, false)
	if err := feed(ctx, src, rcv, batches, func(i int) int { return hooks[i] }); err != nil {
		return 0, fmt.Errorf("feed the open calls: %w", err)
	}
	if err := rcv.wait(ctx, "the open calls' ringing and answered webhooks"); err != nil {
		return 0, err
	}
	// The reading a while after the burst, as a long-running service
	// holds its open calls between bursts. The engine looks at its heap
	// every second and gives back what a burst left at the first look
	// that finds it quiet since the one before: within two looks of the
	// burst's end, so the reading waits three.
	time.Sleep(3 * time.Second)
	return eng.rss(), nil
}

// feed sends the batches to session 1 of src, each once the receiver got
// all but feedAhead of the webhooks of the batches before it; hooks(i)
// is how many batch i causes.
func feed(ctx context.Context, src *crashtest.Source, rcv *receiver, batches [][]byte, hooks func(i int) int) error {
	sent := 0
	for i, b := range batches {
		if err := rcv.reach(ctx, sent-feedAhead); err != nil {
			return err
		}
		if err := src.SendFiltered(1, b); err != nil {
			return err
		}
		sent += hooks(i)
	}
	return nil
}

// fanOut sends reqs to the receiver with net/http from as many goroutines
// as the engine's default delivery concurrency, and returns requests/s.
func fanOut(ctx context.Context, rcv *receiver, reqs []recorded) (float64, error) {
	rcv.reset(len(reqs), false)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	began := time.Now()
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				r := reqs[i]
				hr, err := http.NewRequestWithContext(ctx, r.method, rcv.base+r.target, bytes.NewReader(r.body))
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				resp, err := client.Do(hr)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, fmt.Errorf("baseline fan-out: %w", err)
	default:
	}
	if err := rcv.wait(ctx, "the baseline's requests"); err != nil {
		return 0, err
	}
	return float64(len(reqs)) / time.Since(began).Seconds(), nil
}

// recorded is one request as the receiver got it.
type recorded struct {
	method, target string
	body           []byte
}

// receiver is a minimal HTTP/1.1 receiver on loopback (no net/http
// server, so it costs the shared cores little): it answers 200 on the same
// keep-alive connection, counts requests, and can keep them (the
// baseline replays them) or time them against the sending time of their
// call (taken from the 3CX id's call number).
type receiver struct {
	ln        net.Listener
	url, base string

	mu       sync.Mutex
	want     int
	got      int
	keep     bool
	reqs     []recorded
	sentAt   map[int]time.Time
	lat      []time.Duration
	doneCh   chan struct{}
	progress chan struct{} // cap 1: got grew
	doneOnce *sync.Once
}

// newReceiver starts a receiver of kind "minimal" or "net/http".
func newReceiver(kind string) (*receiver, error) {
	if kind != "minimal" && kind != "net/http" {
		return nil, fmt.Errorf("-receiver %q: want minimal or net/http", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{ln: ln, base: "http://" + ln.Addr().String(), progress: make(chan struct{}, 1)}
	r.url = r.base + "/hook"
	if kind == "net/http" {
		srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: time.Minute}
		go func() { _ = srv.Serve(ln) }()
		return r, nil
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r, nil
}

// handle is the net/http receiver's handler: the body read, 200.
func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.note(req.Method, req.RequestURI, body, time.Now())
}

func (r *receiver) close() { r.ln.Close() }

func (r *receiver) reset(want int, keep bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.want, r.got, r.keep = want, 0, keep
	r.reqs, r.lat = nil, nil
	r.sentAt = map[int]time.Time{}
	r.doneCh, r.doneOnce = make(chan struct{}), &sync.Once{}
}

func (r *receiver) recorded() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// sent notes when call i (its 3CX call number is 1000+10i, as
// crashtest.Calls numbers them) was written.
func (r *receiver) sent(i int, t time.Time) {
	r.mu.Lock()
	r.sentAt[1000+10*i] = t
	r.mu.Unlock()
}

// reach waits until the receiver got n requests.
func (r *receiver) reach(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		got := r.got
		r.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-r.progress:
		case <-ctx.Done():
			return fmt.Errorf("wait for %d webhooks, %d arrived: %w", n, got, ctx.Err())
		}
	}
}

func (r *receiver) wait(ctx context.Context, what string) error {
	r.mu.Lock()
	done := r.doneCh
	r.mu.Unlock()
	t := time.NewTimer(5 * time.Minute)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Errorf("waited for %s: %d of %d arrived", what, r.got, r.want)
}

func (r *receiver) percentiles() (p50, p99 time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)/2], s[len(s)*99/100]
}

var (
	okResponse = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	callNumber = regexp.MustCompile(`id=\d{12}_(\d+)-`)
)

func (r *receiver) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 16<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		method, target, _ := strings.Cut(strings.TrimSpace(line), " ")
		target, _, _ = strings.Cut(target, " ")
		cl := 0
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(h) <= 2 {
				break
			}
			if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("content-length")) {
				cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		body := make([]byte, cl)
		if _, err := ioReadFull(br, body); err != nil {
			return
		}
		now := time.Now()
		if _, err := c.Write(okResponse); err != nil {
			return
		}
		r.note(method, target, body, now)
	}
}

// note counts a request, keeps it when asked to, and times it against
// its call's sending time.
func (r *receiver) note(method, target string, body []byte, now time.Time) {
	r.mu.Lock()
	r.got++
	select {
	case r.progress <- struct{}{}:
	default:
	}
	if r.keep {
		r.reqs = append(r.reqs, recorded{method: method, target: target, body: body})
	}
	if len(r.sentAt) > 0 {
		if m := callNumber.FindStringSubmatch(target); m != nil {
			if n, _ := strconv.Atoi(m[1]); !r.sentAt[n].IsZero() {
				r.lat = append(r.lat, now.Sub(r.sentAt[n]))
			}
		}
	}
	if r.got >= r.want && r.doneOnce != nil {
		r.doneOnce.Do(func() { close(r.doneCh) })
	}
	r.mu.Unlock()
}

func ioReadFull(br *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := br.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mb(b int64) float64        { return float64(b) / (1 << 20) }
