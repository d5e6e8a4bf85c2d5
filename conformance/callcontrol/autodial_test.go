package callcontrol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/conformance/callcontrol"
	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/conformance/suite"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/pbxsim/phone"
)

// The autodial API on a 3CX PBX: the engine's connector places the call
// with MakeCall, the extension's device calls out, and the call's
// webhooks carry what the request attached.
// autodial asks the engine's autodial API for a call, lets the carrier
// answer it, hangs up, and waits for the call's webhooks.
var autodial = plays.Add("autodial through MakeCall", suite.InPlay(func(ctx context.Context, g Gomega) *played {
	rc := callcontrol.Receiver{Name: "crm", Dialect: "bulutfon", Options: map[string]string{"domain_id": "1234", "account_id": "5678"}}
	r, err := callcontrol.Start(ctx, callcontrol.Config{Receivers: []callcontrol.Receiver{rc},
		API: &config.API{Listen: "127.0.0.1:0", Token: "autodial-token-0123456789", Context: "from-internal", Prefix: "9",
			Trunk: "trunk", AllowPrivate: true, Line: 1}})
	g.Expect(err).NotTo(HaveOccurred())
	defer r.Close()
	r.Sim.Carrier().SetPolicy(phone.Policy{Mode: phone.AnswerAfter, Delay: 500 * time.Millisecond})
	body, _ := json.Marshal(map[string]any{"caller": "101", "callee": "12125550199", "additional_data": "order-42"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.Service.API.Addr()+"/v1/autodial", bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer autodial-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer res.Body.Close()
	g.Expect(res.StatusCode).To(Equal(http.StatusAccepted))
	p := &played{}
	g.Expect(json.NewDecoder(res.Body).Decode(&p.answer)).To(Succeed())
	var call *phone.Call
	g.Eventually(r.Sim.Carrier().Incoming()).Should(Receive(&call))
	g.Eventually(call.Answered()).Should(BeClosed())
	g.Expect(call.Hangup(ctx)).To(Succeed())
	g.Eventually(call.Done()).Should(BeClosed())
	token, err := r.Sim.Sync(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Service.WaitSync(ctx, token)).To(Succeed())
	p.reqs = map[string][]check.Request{"crm": r.Requests("crm")}
	return p
}))

var _ = Describe("Autodial through 3CX MakeCall", Ordered, func() {
	var reqs []check.Request
	var answer map[string]string
	rules, err := check.NewBulutfon("current", false)
	if err != nil {
		panic(err)
	}
	BeforeAll(func(ctx SpecContext) {
		p := suite.Played(ctx, autodial)
		reqs, answer = p.reqs["crm"], p.answer
	}, NodeTimeout(3*time.Minute))

	It("places a real call whose webhooks carry autodial and additional_data", func() {
		Expect(answer["status"]).To(Equal("queued"))
		var types []string
		for _, r := range reqs {
			p, err := rules.Decode(r)
			Expect(err).NotTo(HaveOccurred())
			Expect(rules.Fields(p)).To(Succeed())
			types = append(types, p.Str("event_type"))
			Expect(p.Str("autodial")).To(Equal("true"))
			Expect(p.Str("additional_data")).To(Equal("order-42"))
			Expect(p.Str("direction")).To(Equal("OUT"))
			Expect(p.Str("caller")).To(Equal("101"))
			Expect(p.Str("callee")).To(Equal("12125550199"))
		}
		Expect(types).To(Equal([]string{"call_init", "call_hangup"}))
	})
})
