// Command benchsim measures how many calls per second and how many
// concurrent calls pbxsim sustains with no failures: SIPp's built-in uac
// scenario calls DID 2125550100, which rings extension 101 (a scripted
// phone answering at once, without media); every call is held for
// -hold. The same SIPp run against SIPp's own uas scenario is the
// baseline, and the report gives pbxsim's ratio to it.
//
//	go run ./pbxsim/benchsim -rate 1000 -hold 10s -calls 20000
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// The targets pbxsim is held to on a 2-core machine.
const (
	targetRate       = 1000
	targetConcurrent = 10000
)

type result struct {
	ok, failed, peak int
	elapsed          time.Duration
	// cpu is the CPU time the answering side (SIPp uas, or pbxsim with
	// its phone) spent: per call it does not depend on what else runs.
	cpu time.Duration
	// why counts failed calls by SIPp's reason column.
	why map[string]int
	// firstErrors is the start of SIPp's error log when calls failed.
	firstErrors string
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func main() {
	rate := flag.Int("rate", 1000, "calls per second SIPp places")
	hold := flag.Duration("hold", 10*time.Second, "how long each call is held")
	calls := flag.Int("calls", 20000, "calls to place")
	limit := flag.Int("limit", 12000, "at most this many calls in progress")
	cpuprofile := flag.String("cpuprofile", "", "write pbxsim's CPU profile here")
	skipBase := flag.Bool("skip-baseline", false, "measure pbxsim only")
	flag.Parse()
	// An RTP socket per call in progress (the PBX shares it between the
	// call's legs), SIP and the rest besides.
	if got, want := raiseFileLimit(uint64(4**limit+1024)), uint64(*limit+256); got < want {
		fmt.Fprintf(os.Stderr, "benchsim: open-files limit %d is below the %d that %d calls in progress need; raise it (ulimit -n) or lower -limit\n", got, want, *limit)
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		fmt.Fprintln(os.Stderr, "benchsim: sipp not installed (make deps installs sip-tester)")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "benchsim")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	var base result
	if !*skipBase {
		if base, err = baseline(ctx, dir, *rate, *hold, *calls, *limit); err != nil {
			fail(fmt.Errorf("baseline: %w", err))
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	sim, err := simulator(ctx, dir, *rate, *hold, *calls, *limit)
	if err != nil {
		fail(fmt.Errorf("pbxsim: %w", err))
	}
	fmt.Printf("%-22s %10s %10s %8s %12s %14s\n", "target", "calls/s", "successful", "failed", "peak calls", "CPU ms/call")
	for _, r := range []struct {
		name string
		res  result
	}{{"sipp uas (baseline)", base}, {"pbxsim", sim}} {
		perCall := 0.0
		if n := r.res.ok + r.res.failed; n > 0 {
			perCall = float64(r.res.cpu) / float64(time.Millisecond) / float64(n)
		}
		fmt.Printf("%-22s %10.0f %10d %8d %12d %14.3f", r.name, r.res.rate(), r.res.ok, r.res.failed, r.res.peak, perCall)
		if len(r.res.why) > 0 {
			fmt.Printf(" failed: %v", r.res.why)
		}
		fmt.Println()
	}
	if base.rate() > 0 {
		fmt.Printf("pbxsim / baseline: %.2f calls/s, %.2f peak concurrent calls\n",
			sim.rate()/base.rate(), float64(sim.peak)/float64(max(base.peak, 1)))
	}
	met := sim.failed == 0 && sim.rate() >= targetRate && sim.peak >= targetConcurrent
	fmt.Printf("target on 2 cores: >= %d calls/s and >= %d concurrent calls with 0 failures: %s\n",
		targetRate, targetConcurrent, map[bool]string{true: "met", false: "not met"}[met])
	if sim.failed > 0 {
		fmt.Fprintf(os.Stderr, "pbxsim: %d calls failed; SIPp's error log begins:\n%s\n", sim.failed, sim.firstErrors)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchsim:", err)
	os.Exit(1)
}

// raiseFileLimit lifts the open-files limit as a PBX host would: the PBX
// anchors media, so every call holds an RTP socket per leg. A privileged
// process may go past the hard limit; otherwise the hard limit is what
// there is, and the report says so when it caps the run.
func raiseFileLimit(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur >= want {
		return l.Cur
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(want, l.Max)}) == nil {
		return want
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

func freePort() string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

// uac runs SIPp's uac scenario against target and reads its statistics.
func uac(ctx context.Context, dir, name, target, service string, rate int, hold time.Duration, calls, limit int) (result, error) {
	stats := filepath.Join(dir, name+"_uac.csv")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sipp", "-sn", "uac", "-s", service,
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(limit),
		"-d", strconv.Itoa(int(hold/time.Millisecond)),
		"-t", "u1", "-i", "127.0.0.1", "-ci", "127.0.0.1", "-cp", freePort(), "-mp", freePort(),
		"-nostdin", "-trace_stat", "-stf", stats, "-trace_err", "-fd", "1", "-max_socket", "65000",
		"-timeout", strconv.Itoa(int(2*hold/time.Second)+calls/max(rate, 1)+60)+"s",
		target)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return result{}, err
	}
	r, serr := readStats(stats)
	if serr != nil {
		return result{}, fmt.Errorf("%w; sipp said: %s", serr, lastLines(out, 10))
	}
	if r.failed > 0 {
		// SIPp's error log says what the failed calls got instead.
		if logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log")); len(logs) > 0 {
			if b, err := os.ReadFile(logs[0]); err == nil {
				r.firstErrors = firstLines(b, 12)
			}
		}
	}
	// Calls are held for hold: the rate is over the time spent placing
	// them, not over the hold of the last ones.
	r.elapsed = max(elapsed-hold, time.Millisecond)
	return r, nil
}

func readStats(path string) (result, error) {
	f, err := os.Open(path)
	if err != nil {
		return result{}, fmt.Errorf("sipp statistics: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = ';'
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil || len(rows) < 2 {
		return result{}, fmt.Errorf("sipp statistics %s: %d rows: %v", path, len(rows), err)
	}
	head := rows[0]
	col := func(row []string, name string) int {
		for i, h := range head {
			if h == name && i < len(row) {
				n, _ := strconv.Atoi(strings.TrimSpace(row[i]))
				return n
			}
		}
		return 0
	}
	var r result
	for _, row := range rows[1:] {
		r.peak = max(r.peak, col(row, "CurrentCall"))
	}
	last := rows[len(rows)-1]
	r.ok, r.failed = col(last, "SuccessfulCall(C)"), col(last, "FailedCall(C)")
	r.why = map[string]int{}
	for _, h := range head {
		if strings.HasPrefix(h, "Failed") && strings.HasSuffix(h, "(C)") && h != "FailedCall(C)" {
			if n := col(last, h); n > 0 {
				r.why[strings.TrimSuffix(strings.TrimPrefix(h, "Failed"), "(C)")] = n
			}
		}
	}
	return r, nil
}

func firstLines(b []byte, n int) string {
	l := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(l[:min(n, len(l))], "\n")
}

func lastLines(b []byte, n int) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// baseline: SIPp uac against SIPp uas.
func baseline(ctx context.Context, dir string, rate int, hold time.Duration, calls, limit int) (result, error) {
	port := freePort()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	uas := exec.CommandContext(ctx, "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", port, "-t", "u1",
		"-ci", "127.0.0.1", "-cp", freePort(), "-mp", freePort(), "-nostdin", "-max_socket", "65000")
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		return result{}, err
	}
	waitBound(net.JoinHostPort("127.0.0.1", port))
	r, err := uac(ctx, dir, "baseline", net.JoinHostPort("127.0.0.1", port), "service", rate, hold, calls, limit)
	_ = uas.Process.Kill()
	_ = uas.Wait()
	if st := uas.ProcessState; st != nil {
		r.cpu = st.UserTime() + st.SystemTime()
	}
	return r, err
}

// simulator: SIPp uac against pbxsim's DID 2125550100 and extension 101.
func simulator(ctx context.Context, dir string, rate int, hold time.Duration, calls, limit int) (result, error) {
	cfg := pbx.DefaultTopology()
	// One RTP socket per call, not per leg: 10,000 calls fit in the
	// open-files limit a process usually gets.
	cfg.MediaPortPerCall = true
	p, err := pbx.New(cfg)
	if err != nil {
		return result{}, err
	}
	if err := p.Start(ctx); err != nil {
		return result{}, err
	}
	defer p.Close()
	alice, err := phone.New(ctx, phone.Config{User: "101", DisplayName: "Alice 101", Password: "secret101", Server: p.Addr(), NoRTP: true})
	if err != nil {
		return result{}, err
	}
	defer alice.Close()
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	if err := alice.Register(ctx); err != nil {
		return result{}, err
	}
	go func() {
		for range alice.Incoming() {
		}
	}()
	before := selfCPU()
	r, err := uac(ctx, dir, "pbxsim", p.Addr(), "2125550100", rate, hold, calls, limit)
	r.cpu = selfCPU() - before
	return r, err
}

// selfCPU is this process's CPU time so far (pbxsim and its phone run
// here; SIPp is a child, counted apart).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func waitBound(addr string) {
	for range 500 {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}
