package pbx_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// ep is a channel's endpoint ("trunk", "101").
func ep(c *pbx.Channel) string {
	if c == nil {
		return ""
	}
	n, half, local := strings.Cut(strings.TrimPrefix(c.Name, "PJSIP/"), ";")
	if i := strings.LastIndexByte(n, '-'); i > 0 {
		n = n[:i]
	}
	if local {
		// A Local half: Local/103@from-internal;1.
		n += ";" + half
	}
	return n
}

func field(e pbx.Event, k string) string {
	for _, f := range e.Fields {
		if f.Key == k {
			return f.Value
		}
	}
	return ""
}

// fieldEP is the endpoint of a prefixed channel block's channel field.
func fieldEP(e pbx.Event, prefix string) string {
	return ep(&pbx.Channel{Name: field(e, prefix+"Channel")})
}

// transferEvents lists the bridge, dial, transfer and hangup events of
// evs briefly: "BridgeLeave trunk", "DialBegin trunk>102", ...
func transferEvents(evs []pbx.Event) []string {
	var out []string
	for _, e := range evs {
		switch e.Name {
		case "BridgeEnter", "BridgeLeave", "Hangup", "Hold", "Unhold", "MixMonitorStart":
			out = append(out, e.Name+" "+ep(e.Channel))
		case "DialBegin":
			out = append(out, fmt.Sprintf("DialBegin %s>%s", ep(e.Channel), ep(e.Dest)))
		case "DialEnd":
			out = append(out, fmt.Sprintf("DialEnd %s>%s %s", ep(e.Channel), ep(e.Dest), field(e, "DialStatus")))
		case "BlindTransfer":
			out = append(out, fmt.Sprintf("BlindTransfer %s %s>%s %s", field(e, "Result"),
				fieldEP(e, "Transferer"), fieldEP(e, "Transferee"), field(e, "Extension")))
		case "AttendedTransfer":
			out = append(out, fmt.Sprintf("AttendedTransfer %s %s/%s %s>%s %s", field(e, "Result"),
				fieldEP(e, "OrigTransferer"), fieldEP(e, "SecondTransferer"), fieldEP(e, "Transferee"),
				fieldEP(e, "TransferTarget"), field(e, "DestType")))
		}
	}
	return out
}

// after is the part of ladder from the first line equal to from.
func after(ladder []string, from string) []string {
	if i := slices.Index(ladder, from); i >= 0 {
		return ladder[i:]
	}
	return nil
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// answeredCall starts the capture's inbound call and returns the
// caller's and 101's sides once it is up.
func answeredCall(t *testing.T, e *env, alice *phone.Phone, transport string) (out, in *phone.Call) {
	t.Helper()
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	caller := e.carrier(t, transport)
	out, err := caller.Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "answer")
	select {
	case in = <-alice.Incoming():
	case <-e.ctx.Done():
		t.Fatal("no call at 101")
	}
	wait(t, e.ctx, in.Answered(), "101 up")
	eventually(t, "ACK at 101", func() bool { return slices.Contains(in.Ladder(), "recv ACK") })
	return out, in
}

func TestBlindTransferUDP(t *testing.T) { testBlindTransfer(t, "udp", false) }
func TestBlindTransferTCP(t *testing.T) { testBlindTransfer(t, "tcp", false) }

// With both legs of a call on one RTP port, media is still relayed,
// recorded and handed over by the transfer.
func TestBlindTransferMediaPortPerCall(t *testing.T) { testBlindTransfer(t, "udp", true) }

func testBlindTransfer(t *testing.T, transport string, perCall bool) {
	dir := t.TempDir()
	e := start(t, func(c *pbx.Config) { c.Recordings = dir; c.Ladder = true; c.MediaPortPerCall = perCall })
	alice := e.extPhone(t, "101", "Alice 101", transport)
	bob := e.extPhone(t, "102", "Bob 102", transport)
	bob.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out, in := answeredCall(t, e, alice, transport)
	if a, b := out.RemoteMedia(), in.RemoteMedia(); perCall != (a.Port == b.Port) {
		t.Errorf("PBX media ports: caller's leg %v, 101's leg %v; one port per call = %v", a, b, perCall)
	}
	eventually(t, "rtp both ways before the transfer", func() bool { return out.RTPReceived() >= 5 && in.RTPReceived() >= 5 })

	if err := in.BlindTransfer(e.ctx, "102"); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, in.Done(), "transferer's leg over")
	var b *phone.Call
	select {
	case b = <-bob.Incoming():
	case <-e.ctx.Done():
		t.Fatal("no call at 102")
	}
	wait(t, e.ctx, b.Answered(), "102 up")
	if b.RemoteNumber() != "2125559876" {
		t.Errorf("102 sees caller %q, want the transferee 2125559876", b.RemoteNumber())
	}
	eventually(t, "rtp between caller and 102", func() bool { return b.RTPReceived() >= 5 })
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, b.Done(), "102 hung up")
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}

	// 101's side: REFER, 202, NOTIFY 100, 180 (102 rings) and 200 (the
	// ringback tone reaches the caller), then 101's own BYE: Asterisk
	// waits for the transferor to end the REFER's dialog.
	sameLines(t, "101's ladder", after(in.Ladder(), "send REFER"), []string{
		"send REFER", "recv 202 REFER",
		"recv NOTIFY SIP/2.0 100 Trying", "send 200 NOTIFY",
		"recv NOTIFY SIP/2.0 180 Ringing", "send 200 NOTIFY",
		"recv NOTIFY SIP/2.0 200 OK", "send 200 NOTIFY",
		"send BYE", "recv 200 BYE",
	})
	// The PBX's side of 101's leg, recorded at its transport.
	var sent, got []string
	for _, l := range e.pbx.Ladder(in.ID()) {
		if l.Dir == "send" {
			sent = append(sent, l.Message)
		} else {
			got = append(got, l.Message)
		}
	}
	sameLines(t, "PBX's requests and responses on 101's leg", after(sent, "202 REFER"), []string{"202 REFER", "NOTIFY", "NOTIFY", "NOTIFY", "200 BYE"})
	sameLines(t, "what the PBX got on 101's leg", after(got, "REFER"), []string{"REFER", "200 NOTIFY", "200 NOTIFY", "200 NOTIFY", "BYE"})
	sameLines(t, "102's ladder", b.Ladder()[:3], []string{"recv INVITE", "send 180 INVITE", "send 200 INVITE"})
	sameLines(t, "AMI", transferEvents(e.rec.all()), []string{
		"DialBegin trunk>101", "MixMonitorStart 101", "DialEnd trunk>101 ANSWER", "BridgeEnter 101", "BridgeEnter trunk",
		// As Asterisk 22.10.1 (fixtures/ami/asterisk22/scenario-blind-transfer.log):
		// the transferer is taken off hold and hangs up before the target is dialled.
		"Unhold 101", "BlindTransfer Success 101>trunk 102", "BridgeLeave trunk",
		"BridgeLeave 101", "Hangup 101", "DialBegin trunk>102",
		"MixMonitorStart 102", "DialEnd trunk>102 ANSWER", "BridgeEnter 102", "BridgeEnter trunk",
		"BridgeLeave trunk", "BridgeLeave 102", "Hangup trunk", "Hangup 102",
	})
	// Every leg of the call, the caller's, 101's and 102's, is noted as
	// a leg of the call's Linkedid (the one its first channel has).
	linked := ""
	for _, ev := range e.rec.all() {
		if ev.Name == "Newchannel" && linked == "" {
			linked = ev.Channel.Linkedid
		}
	}
	for name, id := range map[string]string{"caller": out.ID(), "101": in.ID(), "102": b.ID()} {
		if got := e.pbx.LadderLinkedid(id); got != linked {
			t.Errorf("%s's leg %s: LadderLinkedid %q, want the call's %q", name, id, got, linked)
		}
	}
	if got := e.pbx.LadderLinkedid("no-such-call-id"); got != "" {
		t.Errorf("unknown Call-ID: LadderLinkedid %q, want \"\"", got)
	}
	// One recording per link, each a complete WAV file.
	files, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	if len(files) != 2 {
		t.Fatalf("recordings %v, want one per answered link", files)
	}
	for _, f := range files {
		checkWAV(t, f)
	}
}

// checkWAV checks the header's sizes against the file and that it holds
// some audio.
func checkWAV(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" || string(b[36:40]) != "data" {
		t.Fatalf("%s: not a WAV file", path)
	}
	le := func(o int) int { return int(b[o]) | int(b[o+1])<<8 | int(b[o+2])<<16 | int(b[o+3])<<24 }
	if le(4) != len(b)-8 || le(40) != len(b)-44 {
		t.Errorf("%s: header sizes %d/%d, file %d bytes", path, le(4), le(40), len(b))
	}
	if len(b)-44 < 2*160 {
		t.Errorf("%s: %d bytes of audio", path, len(b)-44)
	}
}

func TestAttendedTransfer(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	carol := e.extPhone(t, "103", "Carol 103", "udp")
	carol.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out, in := answeredCall(t, e, alice, "udp")

	if err := in.Hold(e.ctx); err != nil {
		t.Fatal(err)
	}
	consult, err := alice.Dial(e.ctx, "103")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, consult.Answered(), "103 answered the consultation")
	var c *phone.Call
	select {
	case c = <-carol.Incoming():
	case <-e.ctx.Done():
		t.Fatal("no call at 103")
	}
	if err := in.AttendedTransfer(e.ctx, consult); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, in.Done(), "first transferer leg over")
	wait(t, e.ctx, consult.Done(), "second transferer leg over")
	// The caller now talks to 103 through the consultation's bridge.
	before := c.RTPReceived()
	eventually(t, "rtp from the caller at 103", func() bool { return c.RTPReceived() >= before+5 })
	if c.Done() == nil || !c.Up() {
		t.Fatal("103's call ended with the transfer")
	}
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, c.Done(), "103 hung up")
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "101's first leg", after(in.Ladder(), "send INVITE sendonly"), []string{
		"send INVITE sendonly", "recv 200 INVITE", "send ACK",
		"send REFER", "recv 202 REFER",
		"recv NOTIFY SIP/2.0 100 Trying", "send 200 NOTIFY",
		"recv NOTIFY SIP/2.0 200 OK", "send 200 NOTIFY",
		"send BYE", "recv 200 BYE",
	})
	sameLines(t, "101's consultation", after(consult.Ladder(), "recv BYE"), []string{"recv BYE", "send 200 BYE"})
	sameLines(t, "AMI", transferEvents(e.rec.all()), []string{
		"DialBegin trunk>101", "MixMonitorStart 101", "DialEnd trunk>101 ANSWER", "BridgeEnter 101", "BridgeEnter trunk",
		"Hold 101",
		"DialBegin 101>103", "MixMonitorStart 103", "DialEnd 101>103 ANSWER", "BridgeEnter 103", "BridgeEnter 101",
		// As fixtures/ami/asterisk22/scenario-attended-transfer.log: both
		// transferer channels taken off hold, the transferee moved, then
		// AttendedTransfer.
		"Unhold 101", "Unhold 101", "BridgeLeave trunk", "BridgeLeave 101", "BridgeEnter trunk",
		"AttendedTransfer Success 101/101 trunk>103 Bridge", "BridgeLeave 101", "Hangup 101", "Hangup 101",
		"BridgeLeave trunk", "BridgeLeave 103", "Hangup 103", "Hangup trunk",
	})
}

func TestAttendedTransferCancelledAndFailed(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	carol := e.extPhone(t, "103", "Carol 103", "udp")
	out, in := answeredCall(t, e, alice, "udp")
	if err := in.Hold(e.ctx); err != nil {
		t.Fatal(err)
	}
	// Failed: the consultation still rings, so the PBX refuses to hand
	// the caller over (NOTIFY 503) and both calls go on.
	consult, err := alice.Dial(e.ctx, "103")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, consult.Ringing(), "103 rings")
	if err := in.AttendedTransfer(e.ctx, consult); !errors.Is(err, phone.ErrTransferFailed) {
		t.Fatalf("transfer to a ringing consultation: %v, want ErrTransferFailed", err)
	}
	// Cancelled: 103 answers, 101 hangs the consultation up and takes
	// the caller off hold.
	var c *phone.Call
	select {
	case c = <-carol.Incoming():
	case <-e.ctx.Done():
		t.Fatal("no call at 103")
	}
	if err := c.Answer(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, consult.Answered(), "consultation up")
	if err := consult.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, c.Done(), "103's call over")
	if err := in.Unhold(e.ctx); err != nil {
		t.Fatal(err)
	}
	if !in.Up() || !out.Up() {
		t.Fatal("the first call ended")
	}
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, in.Done(), "101 hung up")
	if err := e.pbx.WaitIdle(e.ctx); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "101's REFER", after(in.Ladder(), "send REFER")[:6], []string{
		"send REFER", "recv 202 REFER",
		"recv NOTIFY SIP/2.0 100 Trying", "send 200 NOTIFY",
		"recv NOTIFY SIP/2.0 503 Service Unavailable", "send 200 NOTIFY",
	})
	sameLines(t, "AMI", transferEvents(e.rec.all()), []string{
		"DialBegin trunk>101", "MixMonitorStart 101", "DialEnd trunk>101 ANSWER", "BridgeEnter 101", "BridgeEnter trunk",
		"Hold 101",
		"DialBegin 101>103",
		"AttendedTransfer Fail 101/101 trunk>103 Fail",
		"MixMonitorStart 103", "DialEnd 101>103 ANSWER", "BridgeEnter 103", "BridgeEnter 101",
		"BridgeLeave 101", "BridgeLeave 103", "Hangup 101", "Hangup 103",
		"Unhold 101",
		"BridgeLeave trunk", "BridgeLeave 101", "Hangup 101", "Hangup trunk",
	})
}
