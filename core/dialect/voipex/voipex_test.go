package voipex_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/dialect/voipex"
	fvoipex "github.com/callhook/callhook/fixtures/voipex"
)

// want is what one webhook must carry, per the VOIPEX document; empty
// fields are not checked, "-" means the field must be absent.
type want struct{ event, from, to, line, dir, queue, reason string }

func replay(t *testing.T, path string, opts ...voipex.Option) []voipex.Payload {
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
	u, _ := url.Parse("http://127.0.0.1:9000/voipex")
	d := voipex.New("crm", u, append([]voipex.Option{voipex.WithLocation(time.UTC)}, opts...)...)
	m := callmodel.New()
	var out []voipex.Payload
	for _, s := range sigs {
		for _, ev := range m.Handle(s) {
			r, ok := d.Render(ev)
			if !ok {
				continue
			}
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.URL != u.String() {
				t.Errorf("%v: request %s %s %v", ev.Kind, r.Method, r.URL, r.Header)
			}
			var p voipex.Payload
			if err := json.Unmarshal(r.Body, &p); err != nil {
				t.Fatalf("%v: body %s: %v", ev.Kind, r.Body, err)
			}
			out = append(out, p)
		}
	}
	return out
}

func checkPayloads(t *testing.T, got []voipex.Payload, wants []want) {
	t.Helper()
	var names []string
	for _, p := range got {
		names = append(names, p.EventName+":"+p.Line)
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d webhooks %v, want %d", len(got), names, len(wants))
	}
	for i, w := range wants {
		p := got[i]
		eq := func(field, have, want string) {
			if want == "-" && have != "" || want != "" && want != "-" && have != want {
				t.Errorf("webhook %d (%s): %s=%q, want %q", i, names[i], field, have, want)
			}
		}
		eq("EventName", p.EventName, w.event)
		eq("From", p.From, w.from)
		eq("To", p.To, w.to)
		eq("Line", p.Line, w.line)
		eq("Direction", p.Direction, w.dir)
		eq("Queue", p.Queue, w.queue)
		eq("Reason", p.Reason, w.reason)
	}
}

func seq(name string) string {
	return filepath.Join("..", "..", "..", "fixtures", "ami", "sequences", name)
}
func capture(name string) string {
	return filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", name)
}

// Each entry names the document's rule it checks.
func TestRules(t *testing.T) {
	const ext, did = "2125559876", "2125550100"
	in := func(event, line string) want {
		return want{event: event, from: ext, to: did, line: line, dir: "incoming"}
	}
	hangup := func(line, reason string) want {
		w := in("Hangup", line)
		w.reason = reason
		return w
	}
	tests := []struct {
		name string
		file string
		want []want
	}{
		{"inbound answered: NewCall when the call reaches the PBX (no Line yet), Ringing, Answered, Hangup with Reason, CDR",
			capture("01_inbound_answered.log"), []want{
				{event: "NewCall", from: ext, to: did, line: "-", dir: "incoming", reason: "-"},
				in("Ringing", "101"), in("Answered", "101"), hangup("101", "NORMAL_CLEARING"),
				{event: "CDR", from: ext, to: did, line: "101", dir: "incoming", reason: "-"},
			}},
		{"real capture, the PBX's fax line (its ReceiveFAX gave up at once, the Cdr came before the Hangup): Hangup, then the CDR",
			capture("scenario-fax-inbound.log"), []want{
				{event: "NewCall", from: ext, to: "2125550700", line: "-", dir: "incoming"},
				{event: "Hangup", from: ext, to: "2125550700", line: "-", dir: "incoming", reason: "NORMAL_CLEARING"},
				{event: "CDR", from: ext, to: "2125550700", line: "-", dir: "incoming"},
			}},
		{"inbound missed: Hangup's Reason says nobody answered",
			capture("02_inbound_missed.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), hangup("101", "NO_ANSWER"), in("CDR", "101"),
			}},
		{"caller gave up while it rang: ORIGINATOR_CANCEL",
			seq("inbound_caller_cancels.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), hangup("101", "ORIGINATOR_CANCEL"),
			}},
		{"outbound: From the extension, To the number dialled, Direction outgoing",
			capture("07_outbound_answered.log"), []want{
				{event: "NewCall", from: "101", to: "12125550199", line: "101", dir: "outgoing"},
				{event: "Answered", from: "101", to: "12125550199", line: "101", dir: "outgoing"},
				{event: "Hangup", from: "101", to: "12125550199", line: "101", dir: "outgoing", reason: "NORMAL_CLEARING"},
				{event: "CDR", from: "101", to: "12125550199", line: "101", dir: "outgoing"},
			}},
		{"queue: Queue names the queue on every event of the call once it joined",
			capture("05_queue_ringall_answered.log"), []want{
				{event: "NewCall", queue: "-"},
				{event: "Ringing", line: "101", queue: "800"}, {event: "Ringing", line: "102", queue: "800"},
				{event: "Answered", line: "101", queue: "800"}, {event: "Hangup", line: "101", queue: "800"},
				{event: "CDR", line: "101", queue: "800"},
			}},
		{"attended transfer: AttendedTransfer when it completes (Line the transferer, To the target), the transferer's Hangup says ATTENDED_TRANSFER",
			seq("attended_transfer_bridge.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"),
				{event: "AttendedTransfer", from: ext, to: "103", line: "101", dir: "incoming"},
				hangup("101", "ATTENDED_TRANSFER"),
				in("Answered", "103"), hangup("103", "NORMAL_CLEARING"),
			}},
		{"real capture, *2 attended transfer: AttendedTransfer when it completes (Line the transferer, To the target), then 103's own moments",
			capture("xfer-atxfer-feature-completed.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"),
				{event: "AttendedTransfer", from: ext, to: "103", line: "101", dir: "incoming"},
				hangup("101", "ATTENDED_TRANSFER"), in("Answered", "103"), hangup("103", "NORMAL_CLEARING"), {event: "CDR", line: "103"},
			}},
		{"real capture, *2 then *1: CancelAttendedTransfer when the consulted extension is hung up; the call goes on",
			capture("xfer-atxfer-feature-cancelled.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"),
				{event: "CancelAttendedTransfer", from: ext, to: "103", line: "101", dir: "incoming"},
				hangup("101", "NORMAL_CLEARING"), {event: "CDR", line: "101"},
			}},
		{"real capture, AMI Atxfer then CancelAtxfer: CancelAttendedTransfer",
			capture("xfer-atxfer-ami-cancelled.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"),
				{event: "CancelAttendedTransfer", from: ext, to: "103", line: "101", dir: "incoming"},
				hangup("101", "NORMAL_CLEARING"), {event: "CDR", line: "101"},
			}},
		{"attended transfer cancelled: CancelAttendedTransfer once the consultation ends; the consultation is no internal call of its own",
			seq("attended_transfer_cancelled.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"),
				{event: "CancelAttendedTransfer", from: ext, to: "103", line: "101", dir: "incoming"},
				hangup("101", "NORMAL_CLEARING"),
			}},
		{"blind transfer: no VOIPEX event of its own; the link's Hangup says BLIND_TRANSFER",
			seq("blind_transfer_external.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"), hangup("101", "BLIND_TRANSFER"),
				in("Ringing", "102"), in("Answered", "102"), hangup("102", "NORMAL_CLEARING"),
			}},
		{"internal call: NewCall and CDR outgoingLocal (the caller's), Ringing/Answered/Hangup incomingLocal (the called extension's)",
			seq("internal_call.log"), []want{
				{event: "NewCall", from: "101", to: "102", line: "101", dir: "outgoingLocal"},
				{event: "Ringing", from: "101", to: "102", line: "102", dir: "incomingLocal"},
				{event: "Answered", from: "101", to: "102", line: "102", dir: "incomingLocal"},
				{event: "Hangup", from: "101", to: "102", line: "102", dir: "incomingLocal", reason: "NORMAL_CLEARING"},
				{event: "CDR", from: "101", to: "102", line: "101", dir: "outgoingLocal"},
			}},
		{"barge: the supervisor's ChanSpy on 101 is NewCall, Answered and Hangup with Direction barge; the call barged into goes on",
			seq("barge.log"), []want{
				in("NewCall", "-"), in("Ringing", "101"), in("Answered", "101"),
				{event: "NewCall", from: "104", to: "101", line: "104", dir: "barge"},
				{event: "Answered", from: "104", to: "101", line: "104", dir: "barge"},
				{event: "Hangup", from: "104", to: "101", line: "104", dir: "barge", reason: "NORMAL_CLEARING"},
				{event: "CDR", from: "104", to: "101", line: "104", dir: "barge"},
				hangup("101", "NORMAL_CLEARING"), in("CDR", "101"),
			}},
		{"agents: membership is AgentLogin/AgentLogout, a pause AgentPaused (with its Reason) / AgentUnPaused",
			capture("08_queue_member_pause.log"), []want{
				{event: "AgentLogin", line: "103", queue: "800"},
				{event: "AgentPaused", line: "103", queue: "800", reason: "Lunch"},
				{event: "AgentUnPaused", line: "103", queue: "800"},
				{event: "AgentPaused", line: "101", queue: "800", reason: "Break"},
				{event: "AgentUnPaused", line: "101", queue: "800"},
				{event: "AgentLogout", line: "103", queue: "800"},
			}},
		{"global queue login/logout is AgentLogin/AgentLogout; forwarding and extension changes have no VOIPEX event",
			seq("status_events.log"), []want{
				{event: "AgentLogin", line: "103"}, {event: "AgentPaused", line: "103", reason: "Lunch"},
				{event: "AgentUnPaused", line: "103"}, {event: "AgentLogout", line: "103"},
				{event: "AgentLogout", line: "101", queue: "-"}, {event: "AgentLogin", line: "101", queue: "-"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPayloads(t, replay(t, tt.file), tt.want)
		})
	}
}

// The UniqueId is the chain's Asterisk Linkedid, the form of the document's
// example; a barge carries that of the call barged into.
func TestUniqueID(t *testing.T) {
	for _, p := range replay(t, seq("barge.log")) {
		if p.UniqueID != "1795485000.0" {
			t.Errorf("%s %s: UniqueId %q, want the call's Linkedid 1795485000.0", p.EventName, p.Direction, p.UniqueID)
		}
	}
	for _, p := range replay(t, seq("attended_transfer_bridge.log")) {
		if p.UniqueID != "1795483000.0" && p.UniqueID != "" {
			t.Errorf("%s: UniqueId %q changes across the transfer", p.EventName, p.UniqueID)
		}
	}
}

// Login and Email come from the directory, for the extension of Line.
func TestDirectory(t *testing.T) {
	dir := voipex.WithDirectory(voipex.Directory{"101": {Login: "petr.novak", Email: "petr.novak@jehofirma.cz"}})
	got := replay(t, capture("01_inbound_answered.log"), dir)
	if got[0].Login != "" {
		t.Errorf("NewCall (no extension yet) has Login %q", got[0].Login)
	}
	for _, p := range got[1:] {
		if p.Login != "petr.novak" || p.Email != "petr.novak@jehofirma.cz" {
			t.Errorf("%s: Login %q Email %q", p.EventName, p.Login, p.Email)
		}
	}
}

// The CDR carries what the stored record says.
func TestCDR(t *testing.T) {
	got := replay(t, capture("01_inbound_answered.log"))
	c := got[len(got)-1]
	if c.EventName != "CDR" || c.Disposition != "ANSWERED" || c.StartTime != "2026-11-24 01:00:57" ||
		c.AnswerTime != "2026-11-24 01:01:00" || c.EndTime != "2026-11-24 01:01:08" ||
		c.Duration == nil || *c.Duration != 11 || c.BillableSec == nil || *c.BillableSec != 8 {
		t.Errorf("CDR = %+v", c)
	}
}

// The document's example, as JSON, is a Payload field for field, in the
// document's order.
func TestDocumentExample(t *testing.T) {
	r, err := fvoipex.Load()
	if err != nil {
		t.Fatal(err)
	}
	var p voipex.Payload
	if err := json.Unmarshal([]byte(r.ExampleJSON), &p); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	if string(b) != r.ExampleJSON {
		t.Errorf("example re-encoded as\n%s\nwant\n%s", b, r.ExampleJSON)
	}
}

func TestEventsSubset(t *testing.T) {
	if err := voipex.CheckEvents([]string{"Hangup", "Ringing"}); err != nil {
		t.Error(err)
	}
	if err := voipex.CheckEvents([]string{"hangup"}); err == nil {
		t.Error("lower-case event name accepted")
	}
	got := replay(t, capture("01_inbound_answered.log"), voipex.WithEvents([]string{"Hangup"}))
	if len(got) != 1 || got[0].EventName != "Hangup" {
		t.Errorf("got %+v, want the Hangup only", got)
	}
}

// The CDR of capture 01's recorded call names its recording: the file
// MixMonitor announced (the PBX's own name for it).
func TestCDRNamesTheRecording(t *testing.T) {
	var cdr *voipex.Payload
	for _, p := range replay(t, filepath.Join("..", "..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log")) {
		if p.EventName == "CDR" {
			cdr = &p
		}
	}
	if cdr == nil {
		t.Fatal("no CDR")
	}
	if len(cdr.RecordingFiles) != 1 || cdr.RecordingFiles[0] != "20261124-010100-1795482057.1.wav" {
		t.Errorf("CDR RecordingFiles %v", cdr.RecordingFiles)
	}
}
