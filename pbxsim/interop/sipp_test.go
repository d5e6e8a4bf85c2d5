package interop

import (
	"context"
	"encoding/csv"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

type cdrCounter struct {
	mu       sync.Mutex
	answered int
}

func (c *cdrCounter) PBXEvent(e pbx.Event) {
	if e.Name != "Cdr" {
		return
	}
	for _, f := range e.Fields {
		if f.Key == "Disposition" && f.Value == "ANSWERED" {
			c.mu.Lock()
			c.answered++
			c.mu.Unlock()
		}
	}
}

// TestSIPpUAC drives 50 calls from SIPp's built-in uac scenario (INVITE,
// ACK, BYE; no RTP) through DID 2125550100 to extension 101, which
// answers every call at once.
func TestSIPpUAC(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed: run `make deps` (Debian package sip-tester)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	cdrs := &cdrCounter{}
	cfg := pbx.DefaultTopology()
	cfg.Observer = cdrs
	p, err := pbx.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	alice, err := phone.New(ctx, phone.Config{User: "101", DisplayName: "Alice 101", Password: "secret101", Server: p.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	if err := alice.Register(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	stats := filepath.Join(dir, "uac_stats.csv")
	cmd := exec.CommandContext(ctx, sipp,
		"-sn", "uac", "-s", "2125550100",
		"-m", "50", "-r", "10", "-l", "20",
		"-t", "u1", "-i", "127.0.0.1",
		"-ci", "127.0.0.1", "-cp", freeUDPPort(t),
		"-mp", freeUDPPort(t),
		"-nostdin",
		"-trace_stat", "-stf", stats, "-fd", "1",
		"-timeout", "30s", "-timeout_error",
		p.Addr(),
	)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("sipp did not finish in time: %v", ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("sipp exited %d; last output:\n%s", exit.ExitCode(), tail(out, 40))
	} else if err != nil {
		t.Fatalf("run sipp: %v", err)
	}

	ok, failed := readStats(t, stats)
	if ok != 50 || failed != 0 {
		t.Fatalf("sipp: %d successful, %d failed calls; want 50 and 0", ok, failed)
	}
	cdrs.mu.Lock()
	answered := cdrs.answered
	cdrs.mu.Unlock()
	if answered != 50 {
		t.Errorf("pbx recorded %d answered calls, want 50", answered)
	}
}

// readStats reads the cumulative successful and failed call counts from
// the last line of SIPp's statistics file.
func readStats(t *testing.T, path string) (ok, failed int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("sipp statistics: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("sipp statistics %s: %d rows, %v", path, len(rows), err)
	}
	head, last := rows[0], rows[len(rows)-1]
	col := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				n, err := strconv.Atoi(strings.TrimSpace(last[i]))
				if err != nil {
					t.Fatalf("sipp statistics column %s = %q", name, last[i])
				}
				return n
			}
		}
		t.Fatalf("sipp statistics: no column %s", name)
		return 0
	}
	return col("SuccessfulCall(C)"), col("FailedCall(C)")
}

func tail(b []byte, lines int) string {
	l := strings.Split(string(b), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
