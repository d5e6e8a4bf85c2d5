package esl_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/harness"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/scenarios"
)

// observer is a second client of the simulator's event socket, for what
// FreeSWITCH itself says of each channel, beside the engine.
type observer struct {
	mu     sync.Mutex
	events []map[string]string
}

// observe connects to the event socket at addr until ctx ends; g is the
// play's Gomega.
func observe(ctx context.Context, g Gomega, addr, password string) *observer {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	g.Expect(err).NotTo(HaveOccurred())
	context.AfterFunc(ctx, func() { conn.Close() })
	o := &observer{}
	r := bufio.NewReader(conn)
	frame := func() (map[string]string, string, error) {
		h := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, "", err
			}
			if line = strings.TrimRight(line, "\n"); line == "" {
				if len(h) == 0 {
					continue
				}
				break
			}
			k, v, _ := strings.Cut(line, ": ")
			h[k] = v
		}
		n, _ := strconv.Atoi(h["Content-Length"])
		body := make([]byte, n)
		_, err := io.ReadFull(r, body)
		return h, string(body), err
	}
	_, _, err = frame()
	g.Expect(err).NotTo(HaveOccurred())
	fmt.Fprintf(conn, "auth %s\n\nevent plain CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE\n\n", password)
	for range 2 {
		h, _, err := frame()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(h["Reply-Text"]).To(HavePrefix("+OK"))
	}
	go func() {
		for {
			h, body, err := frame()
			if err != nil {
				return
			}
			if h["Content-Type"] != "text/event-plain" {
				continue
			}
			ev := map[string]string{}
			for line := range strings.SplitSeq(body, "\n") {
				if k, v, ok := strings.Cut(line, ": "); ok {
					ev[k], _ = url.PathUnescape(v)
				}
			}
			o.mu.Lock()
			o.events = append(o.events, ev)
			o.mu.Unlock()
		}
	}()
	return o
}

// first is the first event named name for the call's first leg.
func (o *observer) first(name string) map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var caller string
	for _, ev := range o.events {
		if ev["Event-Name"] == "CHANNEL_CREATE" && caller == "" {
			caller = ev["Unique-ID"]
		}
		if ev["Event-Name"] == name && ev["Unique-ID"] == caller {
			return ev
		}
	}
	return nil
}

// switchFields plays the scenario to a Bulutfon webhook over the event
// socket, with an observer beside the engine.
func switchFields(ctx context.Context, g Gomega, sc *scenario.Scenario) *played {
	recv := webhooktest.NewServer()
	defer recv.Close()
	u, err := url.Parse(recv.URL() + "/hook")
	g.Expect(err).NotTo(HaveOccurred())
	h, err := harness.Start(ctx, harness.Config{Interface: "esl", Speed: speed,
		Receivers: []harness.Receiver{{Name: "bf", Dialect: "bulutfon", URL: u}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	octx, stop := context.WithCancel(ctx)
	defer stop()
	o := observe(octx, g, h.Sim.ESLAddr(), h.Sim.ESLPassword())
	g.Expect(h.Play(ctx, sc)).To(Succeed())
	g.Eventually(func() map[string]string { return o.first("CHANNEL_HANGUP_COMPLETE") }).ShouldNot(BeNil(),
		"FreeSWITCH's CHANNEL_HANGUP_COMPLETE for the call's first channel")
	p := &played{reqs: map[string][]check.Request{}, created: o.first("CHANNEL_CREATE"), hungUp: o.first("CHANNEL_HANGUP_COMPLETE")}
	for _, c := range recv.Requests() {
		p.reqs["bf"] = append(p.reqs["bf"], check.Request{Method: c.Method, Path: c.Path, Body: c.Body})
	}
	return p
}

// Bulutfon runs on FreeSWITCH: connected to one, its uuid is the call's
// own (the first channel's Unique-ID, which names the call), hangup_cause
// FreeSWITCH's Hangup-Cause, hangup_detail the caller's
// sip_hangup_disposition in the document's words.
var _ = Describe("Bulutfon's FreeSWITCH fields", func() {
	entry := func(desc, name, detail string) TableEntry {
		sc, err := scenarios.Load(name)
		if err != nil {
			panic(err)
		}
		play := plays.Add("FreeSWITCH fields of "+name, suite.InPlay(func(ctx context.Context, g Gomega) *played {
			return switchFields(ctx, g, sc)
		}))
		return Entry(desc, play, detail, SpecTimeout(3*time.Minute))
	}
	DescribeTable("come from the switch",
		func(ctx SpecContext, play *harness.Play[*played], detail string) {
			p := suite.Played(ctx, play)
			created, hung := p.created, p.hungUp
			var hangup map[string]any
			for _, c := range p.reqs["bf"] {
				var b map[string]any
				Expect(json.Unmarshal(c.Body, &b)).To(Succeed())
				Expect(b["uuid"]).To(Equal(created["Unique-ID"]), "every event carries the call's FreeSWITCH uuid")
				if b["event_type"] == "call_hangup" {
					hangup = b
				}
			}
			Expect(hangup).NotTo(BeNil())
			Expect(hangup["hangup_cause"]).To(Equal(hung["Hangup-Cause"]))
			Expect(hangup["hangup_detail"]).To(Equal(detail), "the caller's sip_hangup_disposition %s", hung["variable_sip_hangup_disposition"])
		},
		entry("answered, the caller hangs up: NORMAL_CLEARING, recv_bye", "inbound-answered", "recv_bye"),
		entry("the caller gives up: ORIGINATOR_CANCEL, recv_cancel as recv_bye", "inbound-caller-cancels", "recv_bye"),
		entry("nobody answers: NO_ANSWER, send_refuse", "inbound-missed", "send_refuse"),
		entry("the number is busy: USER_BUSY, send_refuse", "outbound-busy", "send_refuse"),
	)
})
