package pbxsim_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/callhook/callhook/pbxsim/ami"
)

func lines(party string, s ...string) []Line {
	l, err := parseLadder(party, s)
	Expect(err).NotTo(HaveOccurred())
	return l
}

var _ = Describe("the ladder matcher", func() {
	want := []ExpectedLeg{{Party: "101", Ladder: []string{"<- INVITE", "-> 180 INVITE", "-> 200 INVITE", "<- ACK", "<- BYE", "-> 200 BYE"}}}

	It("accepts the ladder as written, with 100 Trying and retransmissions", func() {
		got := lines("101", "<- INVITE", "-> 100 INVITE", "-> 180 INVITE", "-> 200 INVITE", "-> 200 INVITE", "<- ACK", "<- BYE", "<- BYE", "-> 200 BYE")
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: got}})).To(Succeed())
	})
	It("accepts a sent request listed after the responses to it", func() {
		got := lines("101", "-> 180 INVITE", "-> 200 INVITE", "<- INVITE", "<- ACK", "-> 200 BYE", "<- BYE")
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: got}})).To(Succeed())
	})
	It("rejects a missing message", func() {
		got := lines("101", "<- INVITE", "-> 180 INVITE", "-> 200 INVITE", "<- BYE", "-> 200 BYE")
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: got}})).NotTo(Succeed())
	})
	It("rejects received messages out of order", func() {
		got := lines("101", "<- INVITE", "-> 200 INVITE", "-> 180 INVITE", "<- ACK", "<- BYE", "-> 200 BYE")
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: got}})).NotTo(Succeed())
	})
	It("rejects a sent message listed before the fixture puts it", func() {
		got := lines("101", "<- INVITE", "-> 180 INVITE", "<- ACK", "-> 200 INVITE", "<- BYE", "-> 200 BYE")
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: got}})).NotTo(Succeed())
	})
	It("rejects a sent message late past more than the party's reactions", func() {
		got := lines("101", "-> 180 INVITE", "-> 200 INVITE", "<- ACK", "<- BYE", "-> 200 BYE", "<- INVITE")
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: got}})).NotTo(Succeed())
	})
	It("rejects a leg with the wrong party, and a leg left over", func() {
		ok := lines("101", want[0].Ladder...)
		Expect(matchLegs(want, nil, []Leg{{Party: "102", Lines: lines("102", want[0].Ladder...)}})).NotTo(Succeed())
		Expect(matchLegs(want, nil, []Leg{{Party: "101", Lines: ok}, {Party: "101", Lines: ok}})).NotTo(Succeed())
	})
	It("takes an optional line with or without it, and nothing else", func() {
		opt := []ExpectedLeg{{Party: "101", Ladder: []string{"-> INVITE", "<- 180 INVITE?", "<- 486 INVITE", "-> ACK"}}}
		Expect(matchLegs(opt, nil, []Leg{{Party: "101", Lines: lines("101", "-> INVITE", "<- 486 INVITE", "-> ACK")}})).To(Succeed())
		Expect(matchLegs(opt, nil, []Leg{{Party: "101", Lines: lines("101", "-> INVITE", "<- 180 INVITE", "<- 486 INVITE", "-> ACK")}})).To(Succeed())
		Expect(matchLegs(opt, nil, []Leg{{Party: "101", Lines: lines("101", "-> INVITE", "<- 183 INVITE", "<- 486 INVITE", "-> ACK")}})).NotTo(Succeed())
	})
	It("tells a REFER's two NOTIFYs from a retransmission by their CSeq", func() {
		xfer := []ExpectedLeg{{Party: "101", Ladder: []string{"-> REFER", "<- 202 REFER",
			"<- NOTIFY", "-> 200 NOTIFY", "<- NOTIFY", "-> 200 NOTIFY", "<- BYE", "-> 200 BYE"}}}
		// The first NOTIFY listed after 101's answer to it, the second
		// right behind it: two requests, CSeq 2 and 3.
		got := lines("101", "-> REFER", "<- 202 REFER", "-> 200 NOTIFY", "<- NOTIFY", "<- NOTIFY", "-> 200 NOTIFY", "<- BYE", "-> 200 BYE")
		for i, seq := range []uint32{5, 5, 2, 2, 3, 3, 4, 4} {
			got[i].CSeq = seq
		}
		Expect(matchLegs(xfer, nil, []Leg{{Party: "101", Lines: got}})).To(Succeed())
		// The same NOTIFY sent twice is one request: a NOTIFY is missing.
		got[4].CSeq = 2
		Expect(matchLegs(xfer, nil, []Leg{{Party: "101", Lines: got}})).NotTo(Succeed())
	})
})

var _ = Describe("the AMI key-event matcher", func() {
	ev := func(kv ...string) ami.Message {
		var m ami.Message
		for i := 0; i+1 < len(kv); i += 2 {
			m = append(m, ami.Field{Key: kv[i], Value: kv[i+1]})
		}
		return m
	}
	stream := []ami.Message{
		ev("Event", "Newchannel", "Channel", "PJSIP/trunk-00000000"),
		ev("Event", "DialBegin", "Channel", "PJSIP/trunk-00000000", "DestChannel", "PJSIP/101-00000001"),
		ev("Event", "DialBegin", "Channel", "PJSIP/trunk-00000000", "DestChannel", "PJSIP/102-00000002"),
		ev("Event", "DialEnd", "Channel", "PJSIP/trunk-00000000", "DestChannel", "PJSIP/101-00000001", "DialStatus", "ANSWER"),
		ev("Event", "Hangup", "Channel", "PJSIP/trunk-00000000", "Cause", "16"),
	}
	expect := func(cdrs []string, lines ...any) AMIExpect {
		var e AMIExpect
		for _, l := range lines {
			switch l := l.(type) {
			case string:
				e.Events = append(e.Events, scalar(l))
			case []string:
				n := seq()
				for _, s := range l {
					sc := scalar(s)
					n.Content = append(n.Content, &sc)
				}
				e.Events = append(e.Events, *n)
			}
		}
		e.Cdrs = cdrs
		return e
	}
	It("accepts the stream, concurrent legs in either order", func() {
		Expect(matchKeyEvents(expect(nil, "Newchannel trunk", []string{"DialBegin trunk 102", "DialBegin trunk 101"},
			"DialEnd trunk 101 DialStatus=ANSWER", "Hangup trunk Cause=16"), stream)).To(Succeed())
	})
	It("rejects a wrong field, a wrong order and a missing event", func() {
		Expect(matchKeyEvents(expect(nil, "Newchannel trunk", "DialBegin trunk 101", "DialBegin trunk 102",
			"DialEnd trunk 101 DialStatus=BUSY", "Hangup trunk Cause=16"), stream)).NotTo(Succeed())
		Expect(matchKeyEvents(expect(nil, "Newchannel trunk", "DialBegin trunk 102", "DialBegin trunk 101",
			"DialEnd trunk 101 DialStatus=ANSWER", "Hangup trunk Cause=16"), stream)).NotTo(Succeed())
		Expect(matchKeyEvents(expect(nil, "Newchannel trunk", "DialBegin trunk 101", "DialBegin trunk 102",
			"DialEnd trunk 101 DialStatus=ANSWER"), stream)).NotTo(Succeed())
	})
	It("rejects Cdrs that are not the listed ones", func() {
		Expect(matchKeyEvents(expect([]string{"Cdr trunk 101 Disposition=ANSWERED"}, "Newchannel trunk", "DialBegin trunk 101", "DialBegin trunk 102",
			"DialEnd trunk 101 DialStatus=ANSWER", "Hangup trunk Cause=16"), stream)).NotTo(Succeed())
	})
	It("rejects a pbxsim stream that is not the capture's", func() {
		// Capture 01's flow held to capture 02 (missed): must fail.
		got, err := readCapture("01_inbound_answered.log")
		Expect(err).NotTo(HaveOccurred())
		Expect(compareCapture("01_inbound_answered.log", got)).To(Succeed())
		Expect(compareCapture("02_inbound_missed.log", got)).NotTo(Succeed())
	})
})
