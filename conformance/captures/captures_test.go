package captures_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/scenarios"
)

// dir holds the AMI sessions a real Asterisk 22 sent while the built-in
// scenarios were played on it (fixtures/ami/asterisk22/README.md).
var dir = filepath.Join("..", "..", "fixtures", "ami", "asterisk22")

// tolerance allows for a real PBX's timing (ring timers, media setup).
const tolerance = 1500 * time.Millisecond

// events returns a capture's event packets (what follows the login).
func events(b []byte) []byte {
	if _, after, ok := bytes.Cut(b, []byte("Authentication accepted\r\n\r\n")); ok {
		return after
	}
	return b
}

// recordedAt is the first event's Timestamp: the checks take payload
// times to be near it.
func recordedAt(b []byte) time.Time {
	_, after, ok := bytes.Cut(b, []byte("\r\nTimestamp: "))
	if !ok {
		return time.Now()
	}
	secs, _, _ := strings.Cut(string(after[:min(len(after), 40)]), ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Now()
	}
	return time.Unix(n, 0)
}

// Every built-in scenario as a real Asterisk reported it, fed to the
// engine over TCP with every dialect's receivers at once: each receiver's
// webhooks meet its vendor's documented rules and the scenario's
// expectations. No Asterisk is needed to run this: the streams are
// recorded.
var _ = Describe("A real Asterisk 22's stream of each scenario", Ordered, func() {
	var entries []TableEntry
	for _, name := range scenarios.Names() {
		if _, err := os.Stat(filepath.Join(dir, "scenario-"+name+".log")); err == nil {
			entries = append(entries, Entry(name, name))
		}
	}
	It("is recorded for every built-in scenario", func() {
		Expect(entries).To(HaveLen(len(scenarios.Names())), "fixtures/ami/asterisk22 lacks scenario-NAME.log for some scenario")
	})
	DescribeTable("gives webhooks that meet every dialect's rules",
		func(ctx SpecContext, name string) {
			sc, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			raw, err := os.ReadFile(filepath.Join(dir, "scenario-"+name+".log"))
			Expect(err).NotTo(HaveOccurred())
			check.Now = func() time.Time { return recordedAt(raw) }
			DeferCleanup(func() { check.Now = time.Now })
			var recvs []harness.Receiver
			variants := map[string]check.Variant{}
			for _, d := range check.Dialects() {
				for _, v := range d.Variants {
					r := harness.Receiver{Name: d.Name + "-" + v.Name, Dialect: d.Name, Options: v.Options}
					recvs = append(recvs, r)
					variants[r.Name] = v
				}
			}
			got, err := harness.Replay(ctx, events(raw), recvs, nil)
			Expect(err).NotTo(HaveOccurred())
			total := 0
			for name, v := range variants {
				var reqs []check.Request
				for _, c := range got[name] {
					reqs = append(reqs, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Header: c.Header, Body: c.Body})
				}
				total += len(reqs)
				Expect(check.Failures(v.Check(sc, reqs, tolerance))).To(Succeed(), "%s on the real stream", name)
			}
			Expect(total).To(BeNumerically(">", 0))
		},
		entries,
	)
})
