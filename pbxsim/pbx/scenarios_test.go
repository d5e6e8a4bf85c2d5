package pbx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/phone"
)

// dialStatuses lists the DialEnd statuses of evs.
func dialStatuses(evs []pbx.Event) []string {
	var s []string
	for _, e := range evs {
		if e.Name == "DialEnd" {
			for _, f := range e.Fields {
				if f.Key == "DialStatus" {
					s = append(s, f.Value)
				}
			}
		}
	}
	return s
}

// hangupCauses maps channel endpoint ("trunk", "101") to its Hangup cause.
func hangupCauses(evs []pbx.Event) map[string]string {
	m := map[string]string{}
	for _, e := range evs {
		if e.Name != "Hangup" {
			continue
		}
		ep := strings.TrimPrefix(e.Channel.Name, "PJSIP/")
		ep = ep[:strings.LastIndexByte(ep, '-')]
		for _, f := range e.Fields {
			if f.Key == "Cause" {
				m[ep] = f.Value
			}
		}
	}
	return m
}

func TestRegister(t *testing.T) {
	e := start(t, nil)
	for _, tp := range []string{"udp", "tcp"} {
		e.extPhone(t, "102", "Bob 102", tp)
	}
	bad, err := phone.New(e.ctx, phone.Config{User: "103", Password: "wrong", Server: e.pbx.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.Register(e.ctx)
	var se *phone.StatusError
	if !errors.As(err, &se) || (se.Code != 401 && se.Code != 403) {
		t.Fatalf("wrong password: err = %v, want 401 or 403", err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	if err := e.pbx.WaitRegistered(ctx, "103"); err == nil {
		t.Fatal("103 registered with a wrong password")
	}

	// Expires 0 removes the binding.
	carol, err := phone.New(e.ctx, phone.Config{User: "103", Password: "secret103", Server: e.pbx.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	if err := carol.Register(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.pbx.WaitRegistered(e.ctx, "103"); err != nil {
		t.Fatal(err)
	}
	if err := carol.Unregister(e.ctx); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel2()
	if err := e.pbx.WaitRegistered(ctx2, "103"); err == nil {
		t.Fatal("103 still registered after Expires 0")
	}
}

func TestUnregisteredExtension(t *testing.T) {
	e := start(t, nil)
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "final response")
	if code, _ := out.Status(); code != 480 {
		t.Errorf("caller got %d, want 480", code)
	}
	evs := e.rec.waitFor(t, "cdr", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "", "") == 2 })
	if got := dialStatuses(evs); fmt.Sprint(got) != "[CHANUNAVAIL]" {
		t.Errorf("DialEnd statuses %v", got)
	}
}

func TestUnknownDID(t *testing.T) {
	e := start(t, nil)
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550999")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "final response")
	if code, _ := out.Status(); code != 404 {
		t.Errorf("caller got %d, want 404", code)
	}
	if n := len(e.rec.all()); n != 0 {
		t.Errorf("%d events for an unknown number, want none", n)
	}
}

func TestCallerCancels(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	in := <-alice.Incoming()
	wait(t, e.ctx, out.Ringing(), "ringing")
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	if code, reason := out.Status(); code != 487 || reason != "local CANCEL" {
		t.Errorf("caller status %d %q", code, reason)
	}
	wait(t, e.ctx, in.Done(), "CANCEL at 101")
	if code, _ := in.Status(); code != 487 {
		t.Errorf("101 status %d, want 487", code)
	}
	evs := e.rec.waitFor(t, "cdr", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "", "") == 1 })
	if got := dialStatuses(evs); fmt.Sprint(got) != "[CANCEL]" {
		t.Errorf("DialEnd statuses %v", got)
	}
	if got := hangupCauses(evs); got["101"] != "0" || got["trunk"] != "127" {
		t.Errorf("hangup causes %v", got)
	}
}

func TestBusyAndDecline(t *testing.T) {
	for _, tc := range []struct {
		code   int
		status string
		cause  string
	}{
		{486, "BUSY", "17"},
		{603, "NOANSWER", "21"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			e := start(t, nil)
			alice := e.extPhone(t, "101", "Alice 101", "udp")
			alice.SetPolicy(phone.Policy{Mode: phone.Reject, Code: tc.code})
			out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550100")
			if err != nil {
				t.Fatal(err)
			}
			wait(t, e.ctx, out.Done(), "final response")
			if code, _ := out.Status(); code != tc.code {
				t.Errorf("caller got %d, want %d", code, tc.code)
			}
			evs := e.rec.waitFor(t, "cdr", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "", "") == 2 })
			if got := dialStatuses(evs); fmt.Sprint(got) != "["+tc.status+"]" {
				t.Errorf("DialEnd statuses %v", got)
			}
			if got := hangupCauses(evs); got["101"] != tc.cause || got["trunk"] != tc.cause {
				t.Errorf("hangup causes %v, want %s", got, tc.cause)
			}
		})
	}
}

func TestCalleeHangsUp(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "tcp")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter, Delay: 10 * time.Millisecond})
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	in := <-alice.Incoming()
	wait(t, e.ctx, out.Answered(), "answer")
	wait(t, e.ctx, in.Answered(), "callee up")
	if err := in.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "BYE at caller")
	if code, reason := out.Status(); code != 200 || reason != "remote BYE" {
		t.Errorf("caller status %d %q", code, reason)
	}
	evs := e.rec.waitFor(t, "cdr", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "Disposition", "ANSWERED") == 1 })
	for _, ev := range evs {
		if ev.Name == "HangupRequest" && !strings.HasPrefix(ev.Channel.Name, "PJSIP/101-") {
			t.Errorf("HangupRequest on %s, want the callee", ev.Channel.Name)
		}
	}
}

func TestCloseHangsUpLiveCalls(t *testing.T) {
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	in := <-alice.Incoming()
	wait(t, e.ctx, out.Answered(), "answer")
	if err := e.pbx.Close(); err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Done(), "BYE at caller")
	wait(t, e.ctx, in.Done(), "BYE at callee")
}

func TestConcurrentCalls(t *testing.T) {
	const calls = 50
	e := start(t, nil)
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter, Delay: 20 * time.Millisecond})
	caller := e.carrier(t, "udp")
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := caller.Dial(e.ctx, "2125550100")
			if err != nil {
				errs <- err
				return
			}
			select {
			case <-out.Answered():
			case <-out.Done():
				code, reason := out.Status()
				errs <- fmt.Errorf("call %d ended before answer: %d %s", i, code, reason)
				return
			case <-time.After(5 * time.Second):
				errs <- fmt.Errorf("call %d not answered", i)
				return
			}
			if err := out.Hangup(e.ctx); err != nil {
				errs <- fmt.Errorf("call %d hangup: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	evs := e.rec.waitFor(t, "all cdrs", func(evs []pbx.Event) bool { return countEvents(evs, "Cdr", "", "") == calls })
	if n := countEvents(evs, "DialEnd", "DialStatus", "ANSWER"); n != calls {
		t.Errorf("%d answered DialEnds, want %d", n, calls)
	}
	// Every channel has its own name and Uniqueid.
	names, ids := map[string]bool{}, map[string]bool{}
	for _, ev := range evs {
		if ev.Name == "Newchannel" {
			if names[ev.Channel.Name] || ids[ev.Channel.Uniqueid] {
				t.Errorf("duplicate channel %s %s", ev.Channel.Name, ev.Channel.Uniqueid)
			}
			names[ev.Channel.Name], ids[ev.Channel.Uniqueid] = true, true
		}
	}
	if len(names) != 2*calls {
		t.Errorf("%d channels, want %d", len(names), 2*calls)
	}
}

func TestMalformedAndOutOfDialog(t *testing.T) {
	e := start(t, nil)
	conn, err := net.Dial("udp", e.pbx.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range []string{
		"\x00\x01garbage\r\n\r\n",
		"NOT SIP AT ALL\r\n\r\n",
		"INVITE sip:2125550100@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1\r\n\r\n",
	} {
		if _, err := conn.Write([]byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	local := conn.LocalAddr().String()
	bye := "BYE sip:101@" + e.pbx.Addr() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-unknown-dialog\r\n" +
		"From: <sip:2125559876@127.0.0.1>;tag=abc\r\n" +
		"To: <sip:101@127.0.0.1>;tag=def\r\n" +
		"Call-ID: no-such-call@127.0.0.1\r\n" +
		"CSeq: 2 BYE\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(bye)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to the stray BYE: %v", err)
		}
		resp := string(buf[:n])
		if strings.Contains(resp, "CSeq: 2 BYE") {
			if !strings.HasPrefix(resp, "SIP/2.0 481") {
				t.Fatalf("stray BYE answered %q", strings.SplitN(resp, "\r\n", 2)[0])
			}
			break
		}
	}
	// REFER, NOTIFY and INFO outside any dialog get 481.
	for i, m := range []string{"REFER", "NOTIFY", "INFO"} {
		req := m + " sip:101@" + e.pbx.Addr() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-stray-" + m + "\r\n" +
			"From: <sip:101@127.0.0.1>;tag=abc\r\n" +
			"To: <sip:2125559876@127.0.0.1>;tag=def\r\n" +
			"Call-ID: no-such-call-" + m + "@127.0.0.1\r\n" +
			fmt.Sprintf("CSeq: %d %s\r\n", 10+i, m) +
			"Refer-To: <sip:102@127.0.0.1?Replaces=%zz>\r\n" +
			"Event: refer\r\n" +
			"Max-Forwards: 70\r\n" +
			"Content-Length: 0\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("CSeq: %d %s", 10+i, m)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no answer to the stray %s: %v", m, err)
			}
			resp := string(buf[:n])
			if strings.Contains(resp, want) {
				if !strings.HasPrefix(resp, "SIP/2.0 481") {
					t.Fatalf("stray %s answered %q", m, strings.SplitN(resp, "\r\n", 2)[0])
				}
				break
			}
		}
	}
	// The PBX still works.
	alice := e.extPhone(t, "101", "Alice 101", "udp")
	alice.SetPolicy(phone.Policy{Mode: phone.AnswerAfter})
	out, err := e.carrier(t, "udp").Dial(e.ctx, "2125550100")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e.ctx, out.Answered(), "answer after junk")
	if err := out.Hangup(e.ctx); err != nil {
		t.Fatal(err)
	}
}
