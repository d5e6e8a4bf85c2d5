package receivers_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/connector/ami/amitest"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// speed plays the scenarios; the recorded stream, not the speed, is what
// every engine below is fed.
const speed = 20

// receiver is one [webhook.NAME] of the configurations compared.
type receiver struct {
	name, dialect string
	options       map[string]string // the dialect's keys
}

// receivers are one webhook per dialect, and a second Bulutfon webhook in
// the legacy profile and form encoding: the mix a CRM team may configure.
var receivers = []receiver{
	{name: "crm-3cx", dialect: "3cx"},
	{name: "crm-bulutfon", dialect: "bulutfon", options: map[string]string{"domain_id": "1234", "account_id": "5678"}},
	{name: "crm-bulutfon-legacy", dialect: "bulutfon", options: map[string]string{"format": "form", "profile": "legacy"}},
	{name: "crm-voipex", dialect: "voipex"},
}

// record plays the scenario on the simulator and returns the AMI stream
// an engine would have read, up to and including the sync event after the
// scenario's last call.
func record(ctx context.Context, name string) []byte {
	sc, err := scenarios.Load(name)
	Expect(err).NotTo(HaveOccurred())
	s, err := sim.Start(ctx, sim.Config{Speed: speed})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	rec, err := amitest.Record(ctx, s.AMIAddr(), s.AMIUser(), s.AMISecret())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(rec.Close)
	Expect(s.Play(ctx, sc)).To(Succeed())
	token, err := s.Sync(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(rec.WaitFor(ctx, "Token", token)).To(Succeed())
	return rec.Stream()
}

// deliver runs an engine, configured with the given receivers, on stream
// and returns what each receiver got: one line per request with its
// webhook id, method, path and query, and body, sorted.
func deliver(ctx context.Context, stream []byte, rs ...receiver) map[string][]string {
	src, err := amitest.NewServer(append(stream, "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: CallhookSync\r\nToken: replayed\r\n\r\n"...))
	Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	cfg := &config.Config{
		File:     "receivers-suite",
		PBX:      config.NewPBX("ami", map[string]string{"address": src.Addr(), "username": "admin", "secret": "secret"}),
		Delivery: config.Delivery{Memory: true},
	}
	cfg.PBX.Timezone = time.UTC
	recvs := map[string]*webhooktest.Server{}
	for _, r := range rs {
		srv := webhooktest.NewServer()
		defer srv.Close()
		recvs[r.name] = srv
		u, err := url.Parse(srv.URL() + "/hook/" + r.name)
		Expect(err).NotTo(HaveOccurred())
		cfg.Webhooks = append(cfg.Webhooks, config.Webhook{
			Name: r.name, URL: u, Dialect: r.dialect, Options: r.options, Timeout: 10 * time.Second, AllowPrivate: true,
		})
	}
	svc, err := service.New(cfg, service.Options{Retry: delivery.RetryPolicy{Attempts: 3, Min: 100 * time.Millisecond, Max: time.Second}})
	Expect(err).NotTo(HaveOccurred())
	defer svc.Close()
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- svc.Run(ectx) }()
	defer func() { cancel(); <-done }()
	Expect(svc.WaitSync(ctx, "replayed")).To(Succeed(), "the engine handles the replayed stream up to its sync event and delivers every webhook")
	out := map[string][]string{}
	for name, srv := range recvs {
		var lines []string
		for _, c := range srv.Requests() {
			lines = append(lines, fmt.Sprintf("%s %s %s?%s %s", c.Header.Get(delivery.HeaderWebhookID), c.Method, c.Path, c.RawQuery, c.Body))
		}
		slices.Sort(lines)
		out[name] = lines
	}
	return out
}

// One recorded call flow, fed to an engine with each receiver alone and
// to one with all of them: every receiver gets byte-identical requests,
// webhook ids included, whatever else is configured beside it.
var _ = Describe("A receiver's webhooks", func() {
	entries := []TableEntry{}
	for _, name := range scenarios.Names() {
		entries = append(entries, Entry(name, name, SpecTimeout(3*time.Minute)))
	}
	DescribeTable("are the same alone and beside the other dialects",
		func(ctx SpecContext, name string) {
			stream := record(ctx, name)
			together := deliver(ctx, stream, receivers...)
			total := 0
			for _, r := range receivers {
				alone := deliver(ctx, stream, r)
				Expect(together[r.name]).To(Equal(alone[r.name]),
					"%s (%s) alone got:\n%s\nbeside the others:\n%s", r.name, r.dialect,
					strings.Join(alone[r.name], "\n"), strings.Join(together[r.name], "\n"))
				total += len(alone[r.name])
			}
			Expect(total).To(BeNumerically(">", 0), "the scenario gave no webhook at all")
		},
		entries,
	)
})
