package bulutfon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/pbxsim/phone"
	"github.com/callhook/callhook/scenarios"
)

func eventTypes(h *hook, rules *check.Bulutfon) []string {
	reqs, _ := requests(h)
	var out []string
	for _, r := range reqs {
		p, err := rules.Decode(r)
		Expect(err).NotTo(HaveOccurred())
		out = append(out, p.Str("event_type"))
	}
	return out
}

// bindings plays three scenarios in a row to one engine with three
// webhooks: one bound to a DID, one to a queue's number, one to a subset
// of the events.
var bindings = plays.Add("bindings: inbound-answered, queue-ringall-answered, inbound-missed",
	func(ctx context.Context) (*played, error) {
		b := &played{hooks: []*hook{
			{name: "direct", number: "2125550100", user: "crm", pass: "s3cret"},
			{name: "queue", number: "2125550800"},
			{name: "subset", events: []string{"call_init", "missing_call"}},
		}}
		w, err := startWorld(ctx, false, b.hooks...)
		if err != nil {
			return nil, err
		}
		defer w.close()
		for _, name := range []string{"inbound-answered", "queue-ringall-answered", "inbound-missed"} {
			sc, err := scenarios.Load(name)
			if err != nil {
				return nil, err
			}
			if err := w.played(ctx, sc); err != nil {
				return nil, err
			}
		}
		return b, nil
	})

var _ = Describe("Bulutfon webhook bindings", Ordered, func() {
	var direct, queue, subset *hook
	rules, _ := check.NewBulutfon("current", false)

	BeforeAll(func(ctx SpecContext) {
		b := suite.Played(ctx, bindings)
		direct, queue, subset = b.hooks[0], b.hooks[1], b.hooks[2]
	}, NodeTimeout(3*time.Minute))

	It("sends a webhook bound to a DID only that DID's calls", func() {
		for _, r := range direct.recv.Requests() {
			p, err := rules.Decode(check.Request{Body: r.Body})
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Str("callee")).To(Equal("2125550100"))
		}
		Expect(eventTypes(direct, rules)).To(Equal([]string{
			"call_init", "incoming_call_extension", "call_hangup", // inbound-answered
			"call_init", "incoming_call_extension", "call_hangup", "missing_call", // inbound-missed
		}))
		for _, r := range queue.recv.Requests() {
			p, err := rules.Decode(check.Request{Body: r.Body})
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Str("callee")).To(Equal("2125550800"))
		}
		Expect(eventTypes(queue, rules)).To(Equal([]string{"call_init", "incoming_call_group", "call_hangup"}))
	})

	It("sends the webhook's basic auth credentials", func() {
		Expect(direct.recv.Requests()).NotTo(BeEmpty())
		for _, r := range direct.recv.Requests() {
			Expect(r.Header.Get("Authorization")).To(Equal(delivery.BasicAuth("crm", "s3cret")))
		}
		for _, r := range queue.recv.Requests() {
			Expect(r.Header.Get("Authorization")).To(BeEmpty())
		}
	})

	It("sends a webhook with an event subset only those events", func() {
		Expect(eventTypes(subset, rules)).To(Equal([]string{"call_init", "call_init", "call_init", "missing_call"}))
	})
})

// autodial asks the engine's autodial API for a call, lets the carrier
// answer it, hangs up, and waits for the call's webhooks.
var autodial = plays.Add("autodial", suite.InPlay(func(ctx context.Context, g Gomega) *played {
	a := &played{hooks: []*hook{{name: "crm"}, {name: "unused-callback-receiver"}}}
	crm, callback := a.hooks[0], a.hooks[1]
	w, err := startWorld(ctx, true, crm, callback)
	g.Expect(err).NotTo(HaveOccurred())
	defer w.close()
	w.sim.Carrier().SetPolicy(phone.Policy{Mode: phone.AnswerAfter, Delay: 100 * time.Millisecond})

	body, _ := json.Marshal(map[string]any{
		"caller": "101", "callee": "12125550199", "additional_data": "order-42",
		"callback_url": callback.recv.URL() + "/cb",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+w.svc.API.Addr()+"/v1/autodial", bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer autodial-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer res.Body.Close()
	g.Expect(res.StatusCode).To(Equal(http.StatusAccepted))
	g.Expect(json.NewDecoder(res.Body).Decode(&a.answer)).To(Succeed())

	var call *phone.Call
	g.Eventually(w.sim.Carrier().Incoming()).Should(Receive(&call))
	g.Eventually(call.Answered()).Should(BeClosed())
	g.Expect(call.Hangup(ctx)).To(Succeed())
	g.Eventually(call.Done()).Should(BeClosed())
	g.Expect(w.settled(ctx)).To(Succeed())
	return a
}))

var _ = Describe("Bulutfon autodial", Ordered, func() {
	var crm, callback *hook
	var answer map[string]string
	rules, _ := check.NewBulutfon("current", false)

	BeforeAll(func(ctx SpecContext) {
		a := suite.Played(ctx, autodial)
		crm, callback, answer = a.hooks[0], a.hooks[1], a.answer
	}, NodeTimeout(2*time.Minute))

	It("answers the request with the call's id", func() {
		Expect(answer["id"]).To(MatchRegexp(`^[0-9a-f-]{36}$`))
		Expect(answer["status"]).To(Equal("queued"))
	})

	It("places a real call whose webhooks carry autodial, additional_data and callback_url", func() {
		reqs, _ := requests(crm)
		Expect(eventTypes(crm, rules)).To(Equal([]string{"call_init", "call_hangup"}))
		for _, r := range reqs {
			p, err := rules.Decode(r)
			Expect(err).NotTo(HaveOccurred())
			Expect(rules.Fields(p)).To(Succeed())
			Expect(p.Str("autodial")).To(Equal("true"))
			Expect(p.Str("additional_data")).To(Equal("order-42"))
			Expect(p.Str("callback_url")).To(Equal(callback.recv.URL() + "/cb"))
			Expect(p.Str("direction")).To(Equal("OUT"))
			Expect(p.Str("caller")).To(Equal("101"))
			Expect(p.Str("callee")).To(Equal("12125550199"))
		}
	})

	It("sends the call's events to its callback_url too", func() {
		var paths []string
		for _, r := range callback.recv.Requests() {
			paths = append(paths, r.Path)
		}
		Expect(paths).To(ContainElement("/cb"))
		var cb []check.Request
		for _, r := range callback.recv.Requests() {
			if r.Path == "/cb" {
				cb = append(cb, check.Request{Method: r.Method, Body: r.Body})
			}
		}
		Expect(cb).To(HaveLen(2))
		p, err := rules.Decode(cb[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Str("event_type")).To(Equal("call_init"))
		Expect(p.Str("additional_data")).To(Equal("order-42"))
	})
})
