package callmodel_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/dialect/threecx"
)

// req is what a 3CX receiver should get for one event, written from the
// 3CX webhooks-module document (fields the entry leaves empty are not
// checked). title lists words the title must contain.
type req struct {
	event, user, usertype, trtype, finish, transfer, duration string
	link                                                      int
	title                                                     []string
	params                                                    map[string]string // status events
}

func ringing(user, usertype string, link int) req {
	return req{event: "ringing", user: user, usertype: usertype, link: link}
}

func started(user, trtype string, link int) req {
	return req{event: "hangupincoming", user: user, trtype: trtype, link: link}
}

func ended(user, finish, transfer, duration string, link int, title ...string) req {
	return req{event: "incoming", user: user, finish: finish, transfer: transfer, duration: duration, link: link, title: title}
}

func stopped(user, usertype string, link int) req {
	return req{event: "stoppedringing", user: user, usertype: usertype, link: link}
}

func status(event string, params map[string]string) req {
	return req{event: event, params: params, link: -1}
}

// render replays an AMI stream through ami.Decode, the call model and the
// 3cx dialect, and returns the query of every request.
func render(t *testing.T, path string, opts ...threecx.Option) []url.Values {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:9000/hook")
	d := threecx.New("crm", u, append([]threecx.Option{threecx.WithLocation(time.UTC)}, opts...)...)
	var out []url.Values
	for _, ev := range run(t, sigs) {
		r, ok := d.Render(ev)
		if !ok {
			if threecxSilent(ev) {
				continue
			}
			t.Fatalf("event %v not rendered", ev.Kind)
		}
		ru, _ := url.Parse(r.URL)
		out = append(out, ru.Query())
	}
	return out
}

// threecxSilent says whether the 3CX module has no event for ev: the
// call-initiated moment, stored call records, transfer outcomes of their
// own, and calls that never leave the PBX.
func threecxSilent(ev callmodel.Event) bool {
	switch ev.Kind {
	case callmodel.Initiated, callmodel.Record, callmodel.TransferCompleted, callmodel.TransferCancelled,
		callmodel.Landed, callmodel.Missed, callmodel.FaxReceived, callmodel.StoppedRinging:
		return true
	}
	if ev.Kind == callmodel.Ended && ev.UserType == callmodel.UserOther {
		return true // ended in a menu, nobody took it
	}
	return ev.Direction == callmodel.Internal || ev.Direction == callmodel.Barge
}

func checkRequests(t *testing.T, got []url.Values, wants []req) {
	t.Helper()
	var names []string
	for _, q := range got {
		names = append(names, q.Get("event")+":"+q.Get("user"))
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d requests %v, want %d", len(got), names, len(wants))
	}
	prefix := ""
	for i, w := range wants {
		q := got[i]
		bad := func(field, want string) {
			if want != "" && q.Get(field) != want {
				t.Errorf("request %d (%s): %s=%q, want %q", i, names[i], field, q.Get(field), want)
			}
		}
		bad("event", w.event)
		bad("user", w.user)
		bad("usertype", w.usertype)
		bad("trtype", w.trtype)
		bad("finishtype", w.finish)
		bad("transfer", w.transfer)
		bad("duration", w.duration)
		for k, v := range w.params {
			bad(k, v)
		}
		for _, word := range w.title {
			if !strings.Contains(q.Get("title"), word) {
				t.Errorf("request %d: title %q lacks %q", i, q.Get("title"), word)
			}
		}
		if w.link < 0 {
			if q.Has("id") {
				t.Errorf("request %d: status event carries a call id %s", i, q.Get("id"))
			}
			continue
		}
		id := q.Get("id")
		cut := strings.LastIndexByte(id, '-')
		if cut < 0 {
			t.Fatalf("request %d: id %q", i, id)
		}
		if link := id[cut+1:]; link != itoa(w.link) {
			t.Errorf("request %d (%s): link %s (id %s), want %d", i, names[i], link, id, w.link)
		}
		// "All calls in a single chain of transfers have the same date,
		// time, and unique number within the current session."
		if prefix == "" {
			prefix = id[:cut]
		} else if id[:cut] != prefix {
			t.Errorf("request %d: id %s leaves the chain %s", i, id, prefix)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Each entry names the rule of the 3CX document (or of Asterisk's
// behaviour) it checks.
func TestSequences(t *testing.T) {
	seq := func(name string) string { return filepath.Join("..", "..", "fixtures", "ami", "sequences", name) }
	capture := func(name string) string { return filepath.Join("..", "..", "fixtures", "ami", "asterisk22", name) }
	tests := []struct {
		name string
		file string
		opts []threecx.Option
		want []req
	}{
		{"queue ring-all: every agent rings with the call's one id; one call-started for the agent who answers; no Missed for the others",
			seq("queue_ringall3_second_answers.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0), ringing("103", "queue", 0),
				started("102", "NotDef", 1),
				ended("102", "Ok", "false", "12", 1),
			}},
		{"queue: AgentConnect before QueueCallerLeave and DialEnd ANSWER before Newstate Up give the same events",
			seq("queue_connect_before_leave.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0), ringing("103", "queue", 0),
				started("101", "NotDef", 1),
				ended("101", "Ok", "false", "12", 1),
			}},
		{"opt-in: phones that stopped ringing while the call goes on (the document's noted gap)",
			seq("queue_ringall3_second_answers.log"), []threecx.Option{threecx.WithStoppedRinging()}, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0), ringing("103", "queue", 0),
				started("102", "NotDef", 1),
				stopped("101", "queue", 1), stopped("103", "queue", 1),
				ended("102", "Ok", "false", "12", 1),
			}},
		{"queue timeout: missed at queue level, user is the queue's number, title says no callback",
			seq("queue_timeout.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0),
				ended("800", "Missed", "false", "", 0, "queue 800", "no callback ordered"),
			}},
		{"queue abandon after ordering a callback: title says a callback was ordered",
			seq("queue_abandon_callback.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0),
				ended("800", "Missed", "false", "", 0, "queue 800", ", callback ordered"),
			}},
		{"real capture, the caller presses 1 in the queue (DTMFEnd only) and hangs up: the title says a callback was ordered",
			capture("scenario-queue-missed-callback.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0),
				ended("800", "Missed", "false", "", 0, "queue 800", ", callback ordered"),
			}},
		{"real capture, queue ring-all answered: 102 cancelled with DialEnd CANCEL and Hangup cause 26 is not missed",
			capture("05_queue_ringall_answered.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0),
				started("101", "NotDef", 1),
				ended("101", "Ok", "false", "11", 1),
			}},
		{"real capture, queue abandon after a retry: agents ring again with the same id; missed at queue level",
			capture("06_queue_missed_abandon.log"), nil, []req{
				ringing("101", "queue", 0), ringing("102", "queue", 0),
				ringing("101", "queue", 0), ringing("102", "queue", 0),
				ended("800", "Missed", "false", "", 0, "no callback ordered"),
			}},
		{"caller cancels while ringing: finishtype Missed, link 0",
			seq("inbound_caller_cancels.log"), nil, []req{
				ringing("101", "ext", 0),
				ended("101", "Missed", "false", "", 0),
			}},
		{"busy extension: nobody answered at the PBX: Missed, link 0",
			seq("inbound_busy.log"), nil, []req{
				ended("101", "Missed", "false", "", 0),
			}},
		{"blind transfer by the phone (IsExternal Yes): link +1, trtype Blind, transfer=true on the link that ended by transfer",
			seq("blind_transfer_external.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "true", "10", 1),
				ringing("102", "ext", 2), started("102", "Blind", 2),
				ended("102", "Ok", "false", "7", 2),
			}},
		{"blind transfer by DTMF (IsExternal No): transferer hangs up before the new dial",
			seq("blind_transfer_dtmf.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "true", "10", 1),
				ringing("102", "ext", 2), started("102", "Blind", 2),
				ended("102", "Ok", "false", "7", 2),
			}},
		{"attended transfer, DestType Bridge, Linkedid chains merged: one id prefix, trtype Accomp",
			seq("attended_transfer_bridge.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "true", "17", 1),
				started("103", "Accomp", 2),
				ended("103", "Ok", "false", "9", 2),
			}},
		// Real Asterisk 22 captures of the transfers Asterisk users make:
		// the attended transfer feature (*2) and the manager's Atxfer dial
		// the target through a Local channel pair in the same call, which
		// Asterisk optimises away, moving either the target into the
		// caller's bridge or the caller into the target's; the blind
		// transfer feature (##) and the manager's BlindTransfer.
		{"real capture, *2 attended transfer, target moves: link 1 ends transferred, 103 answers link 2 with trtype Accomp",
			capture("xfer-atxfer-feature-completed.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "true", "", 1),
				started("103", "Accomp", 2), ended("103", "Ok", "false", "", 2),
			}},
		{"real capture, *2 attended transfer, the caller moves into the target's bridge: the same webhooks",
			capture("xfer-atxfer-feature-completed-transferee-moves.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "true", "", 1),
				started("103", "Accomp", 2), ended("103", "Ok", "false", "", 2),
			}},
		{"real capture, AMI Atxfer: the same webhooks as the *2 feature",
			capture("xfer-atxfer-ami-completed.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "true", "", 1),
				started("103", "Accomp", 2), ended("103", "Ok", "false", "", 2),
			}},
		{"real capture, *2 then *1 (atxferabort): no transfer, the call goes on with 101 on link 1",
			capture("xfer-atxfer-feature-cancelled.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "false", "", 1),
			}},
		{"real capture, AMI Atxfer then CancelAtxfer: no transfer",
			capture("xfer-atxfer-ami-cancelled.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "false", "", 1),
			}},
		{"real capture, ## blind transfer: link 1 ends transferred, 102 rings and answers link 2 with trtype Blind",
			capture("xfer-blind-feature.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "true", "", 1),
				ringing("102", "ext", 2), started("102", "Blind", 2), ended("102", "Ok", "false", "", 2),
			}},
		{"real capture, AMI BlindTransfer: the same webhooks as the ## feature",
			capture("xfer-blind-ami.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1), ended("101", "Ok", "true", "", 1),
				ringing("102", "ext", 2), started("102", "Blind", 2), ended("102", "Ok", "false", "", 2),
			}},
		{"attended transfer, DestType Link through a local channel pair",
			seq("attended_transfer_link.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "true", "17", 1),
				started("103", "Accomp", 2),
				ended("103", "Ok", "false", "9", 2),
			}},
		{"attended transfer, DestType App (Dial) before the target answered: the target rings for the caller, then answers",
			seq("attended_transfer_app.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "true", "12", 1),
				ringing("103", "ext", 2), started("103", "Accomp", 2),
				ended("103", "Ok", "false", "6", 2),
			}},
		{"attended transfer with Result Fail: no transfer reported",
			seq("attended_transfer_fail.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "false", "21", 1),
			}},
		{"attended transfer cancelled (consultation hung up): no transfer reported",
			seq("attended_transfer_cancelled.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "false", "21", 1),
			}},
		{"blind then attended transfer: links 0,1,2,3, trtype NotDef/Blind/Accomp, transfer=true on every link but the last",
			seq("blind_then_attended.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "true", "10", 1),
				ringing("102", "ext", 2), started("102", "Blind", 2),
				ended("102", "Ok", "true", "15", 2),
				started("103", "Accomp", 3),
				ended("103", "Ok", "false", "9", 3),
			}},
		{"mobile reconnect: a new leg of the same extension replaces the lost one; one call, one conversation",
			seq("mobile_reconnect.log"), nil, []req{
				ringing("101", "ext", 0), started("101", "NotDef", 1),
				ended("101", "Ok", "false", "18", 1),
			}},
		{"status events: agent added/removed, per-queue and global login/logout, forwarding, extension created/deleted",
			seq("status_events.log"), nil, []req{
				status("agentadded", map[string]string{"user": "103", "queue": "800"}),
				status("queuememberloginchanged", map[string]string{"user": "103", "queue": "800", "status": "logout", "reason": "Lunch"}),
				status("queuememberloginchanged", map[string]string{"user": "103", "queue": "800", "status": "login"}),
				status("agentremoved", map[string]string{"user": "103", "queue": "800"}),
				status("queueloginchanged", map[string]string{"user": "101", "status": "logout"}),
				status("queueloginchanged", map[string]string{"user": "101", "status": "login"}),
				status("forwardingchanged", map[string]string{"user": "102", "status": "on", "destination": "12125550199"}),
				status("forwardingchanged", map[string]string{"user": "102", "status": "off"}),
				status("extensioncreated", map[string]string{"user": "105", "name": "Erin 105"}),
				status("extensiondeleted", map[string]string{"user": "105"}),
			}},
		{"real capture, queue member add/pause/remove: per-queue login/logout as pause, agent added/removed",
			capture("08_queue_member_pause.log"), nil, []req{
				status("agentadded", map[string]string{"user": "103", "queue": "800"}),
				status("queuememberloginchanged", map[string]string{"user": "103", "status": "logout", "reason": "Lunch"}),
				status("queuememberloginchanged", map[string]string{"user": "103", "status": "login"}),
				status("queuememberloginchanged", map[string]string{"user": "101", "status": "logout", "reason": "Break"}),
				status("queuememberloginchanged", map[string]string{"user": "101", "status": "login"}),
				status("agentremoved", map[string]string{"user": "103", "queue": "800"}),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRequests(t, render(t, tt.file, tt.opts...), tt.want)
		})
	}
}
