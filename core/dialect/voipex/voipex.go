// Package voipex renders call events as the VOIPEX platform's webhooks: one
// HTTP POST per event with a JSON body whose fields are named as the
// platform's document names them (EventName, From, To, Line, Email, Login,
// UniqueId, Queue, Direction, Reason), optionally behind HTTP basic auth
// (added at send time by the receiver's delivery policy).
package voipex

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/signal"
	"github.com/callhook/callhook/core/webhook"
)

// Event names, as the document lists them.
const (
	EventNewCall                = "NewCall"
	EventRinging                = "Ringing"
	EventAnswered               = "Answered"
	EventHangup                 = "Hangup"
	EventAttendedTransfer       = "AttendedTransfer"
	EventCancelAttendedTransfer = "CancelAttendedTransfer"
	EventCDR                    = "CDR"
	EventAgentLogin             = "AgentLogin"
	EventAgentLogout            = "AgentLogout"
	EventAgentPaused            = "AgentPaused"
	EventAgentUnPaused          = "AgentUnPaused"
)

// Events are every event name the dialect sends, in the document's order.
var Events = []string{EventNewCall, EventRinging, EventAnswered, EventHangup, EventAttendedTransfer,
	EventCancelAttendedTransfer, EventCDR, EventAgentLogin, EventAgentLogout, EventAgentPaused, EventAgentUnPaused}

// Directions, as the document lists them.
const (
	DirectionIncoming      = "incoming"
	DirectionOutgoing      = "outgoing"
	DirectionIncomingLocal = "incomingLocal"
	DirectionOutgoingLocal = "outgoingLocal"
	DirectionBarge         = "barge"
)

// User is what the directory knows of the person at an extension: the
// document's Login and Email ("login/email of the called user, when
// available").
type User struct {
	Login string
	Email string
}

// Directory maps extension numbers to their users.
type Directory map[string]User

// Payload is the JSON body of one webhook. The document's fields come
// first, in its order; a field the event has no value for is left out, as
// the document's example leaves out Queue, Direction and Reason. The CDR
// event adds what the stored record says (callhook's extension: the
// document names the event but not these fields).
type Payload struct {
	EventName string `json:"EventName"`
	From      string `json:"From,omitempty"`
	To        string `json:"To,omitempty"`
	Line      string `json:"Line,omitempty"`
	Email     string `json:"Email,omitempty"`
	Login     string `json:"Login,omitempty"`
	UniqueID  string `json:"UniqueId,omitempty"`
	Queue     string `json:"Queue,omitempty"`
	Direction string `json:"Direction,omitempty"`
	Reason    string `json:"Reason,omitempty"`

	// CDR only.
	StartTime      string   `json:"StartTime,omitempty"`
	AnswerTime     string   `json:"AnswerTime,omitempty"`
	EndTime        string   `json:"EndTime,omitempty"`
	Duration       *int     `json:"Duration,omitempty"`
	BillableSec    *int     `json:"BillableSeconds,omitempty"`
	Disposition    string   `json:"Disposition,omitempty"`
	RecordingFiles []string `json:"RecordingFiles,omitempty"`
}

// dispositions are the words a stored call record uses for how the call
// went, as the Asterisk call records VOIPEX's platform keeps write them.
var dispositions = map[signal.Disposition]string{
	signal.DispositionAnswered: "ANSWERED", signal.DispositionNoAnswer: "NO ANSWER",
	signal.DispositionBusy: "BUSY", signal.DispositionFailed: "FAILED",
}

// TimeLayout is how CDR times are written: the PBX's local wall clock, as
// Asterisk's own call records write it.
const TimeLayout = "2006-01-02 15:04:05"

// Dialect renders call events for one receiver.
type Dialect struct {
	target   *url.URL
	receiver string
	dir      Directory
	events   []string // nil: all
	loc      *time.Location
}

// Option configures a Dialect.
type Option func(*Dialect)

// WithDirectory gives the users behind extensions, for Login and Email.
func WithDirectory(d Directory) Option { return func(x *Dialect) { x.dir = d } }

// WithEvents limits the webhooks to the named events (see Events).
func WithEvents(names []string) Option { return func(x *Dialect) { x.events = names } }

// WithLocation sets the zone of CDR times (the PBX's). Default: the
// engine's local zone.
func WithLocation(loc *time.Location) Option { return func(x *Dialect) { x.loc = loc } }

// New returns a dialect that POSTs to target, for the receiver named name.
func New(name string, target *url.URL, opts ...Option) *Dialect {
	d := &Dialect{target: target, receiver: name, loc: time.Local}
	for _, o := range opts {
		o(d)
	}
	return d
}

// CheckEvents reports the first name that is not a VOIPEX event.
func CheckEvents(names []string) error {
	for _, n := range names {
		if !slices.Contains(Events, n) {
			return fmt.Errorf("voipex events: unknown event %q (want %s)", n, strings.Join(Events, ", "))
		}
	}
	return nil
}

// Render returns the request for ev, and false when VOIPEX has no event
// for it (or the receiver did not ask for it).
func (d *Dialect) Render(ev callmodel.Event) (webhook.Request, bool) {
	p, ok := d.Payload(ev)
	if !ok || (d.events != nil && !slices.Contains(d.events, p.EventName)) {
		return webhook.Request{}, false
	}
	body, err := json.Marshal(p)
	if err != nil {
		return webhook.Request{}, false
	}
	return webhook.Request{
		ID:       d.receiver + "-" + ev.Key(),
		Receiver: d.receiver,
		CallKey:  ev.OrderKey(),
		Method:   http.MethodPost,
		URL:      d.target.String(),
		Header:   http.Header{"Content-Type": []string{"application/json"}},
		Body:     body,
	}, true
}

// uniqueID is the call's UniqueId in the document's form, "<epoch>.<sequence>"
// (its example 1412256225.1941 is an Asterisk Linkedid): the PBX's own id
// when it has that form, else the call's start and number in it (a
// FreeSWITCH call is named by a UUID). For a barge that is the barge's own
// call, where the PBX's id names the call listened in on.
func uniqueID(ev callmodel.Event) string {
	if isEpochSeq(ev.PBXCallID) {
		return ev.PBXCallID
	}
	return fmt.Sprintf("%d.%d", ev.ID.Start.Unix(), ev.ID.Number)
}

// isEpochSeq says whether id is digits, a dot and digits.
func isEpochSeq(id string) bool {
	secs, seq, ok := strings.Cut(id, ".")
	if !ok || secs == "" || seq == "" {
		return false
	}
	for _, r := range secs + seq {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Payload builds the body for ev, and false when VOIPEX has no event for
// it: the outbound call's dialing moment (NewCall already reports it),
// phones that stopped ringing, forwarding and extension changes, and the
// call-flow events other dialects ask for.
func (d *Dialect) Payload(ev callmodel.Event) (Payload, bool) {
	if ev.Kind.IsStatus() {
		return d.agent(ev)
	}
	p := Payload{UniqueID: uniqueID(ev), Queue: ev.Queue}
	switch ev.Kind {
	case callmodel.Initiated:
		p.EventName = EventNewCall
	case callmodel.Ringing:
		p.EventName = EventRinging
	case callmodel.Answered:
		p.EventName = EventAnswered
	case callmodel.Ended:
		p.EventName = EventHangup
		p.Reason = ev.Reason
	case callmodel.TransferCompleted:
		p.EventName = EventAttendedTransfer
	case callmodel.TransferCancelled:
		p.EventName = EventCancelAttendedTransfer
	case callmodel.Record:
		p.EventName = EventCDR
		d.record(&p, ev.Record)
	default:
		return Payload{}, false
	}
	d.parties(&p, ev)
	return p, true
}

// parties fills From, To, Line, Direction and the user of the event.
//
//   - incoming: From the caller, To the number called (the DID), Line the
//     extension the event is about (none yet on NewCall).
//   - outgoing: From the extension, To the number dialled, Line the
//     extension.
//   - internal: From the calling extension, To the called one; events
//     about the caller (NewCall, CDR) are outgoingLocal, events about the
//     called extension (Ringing, Answered, Hangup) incomingLocal.
//   - barge: From the supervisor's extension, To the extension listened
//     in on, UniqueId that of the call listened in on.
//   - AttendedTransfer / CancelAttendedTransfer: Line the transferring
//     extension, To the extension consulted; From the outside party.
func (d *Dialect) parties(p *Payload, ev callmodel.Event) {
	p.Line = ev.User
	switch ev.Direction {
	case callmodel.Inbound:
		p.Direction = DirectionIncoming
		p.From, p.To = ev.External, ev.DID
	case callmodel.Outbound:
		p.Direction = DirectionOutgoing
		p.From, p.To = ev.User, ev.External
	case callmodel.Internal:
		if ev.Kind == callmodel.Initiated || ev.Kind == callmodel.Record {
			p.Direction = DirectionOutgoingLocal
			p.From, p.To = ev.User, ev.Other
		} else {
			p.Direction = DirectionIncomingLocal
			p.From, p.To = ev.Other, ev.User
		}
	case callmodel.Barge:
		p.Direction = DirectionBarge
		p.From, p.To = ev.User, ev.Other
	}
	if ev.Kind == callmodel.TransferCompleted || ev.Kind == callmodel.TransferCancelled {
		p.To = ev.Other
		if ev.Direction == callmodel.Outbound {
			p.From = ev.External
		}
	}
	if (ev.UserType == callmodel.UserQueue && ev.User == ev.Queue) || ev.UserType == callmodel.UserOther {
		// Missed at queue level, or ended in a menu: no extension was the
		// call's.
		p.Line = ""
	}
	u := d.dir[p.Line]
	p.Login, p.Email = u.Login, u.Email
}

func (d *Dialect) record(p *Payload, r *callmodel.CallRecord) {
	if r == nil {
		return
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(d.loc).Format(TimeLayout)
	}
	dur, bill := int(r.Duration/time.Second), int(r.Billable/time.Second)
	p.StartTime, p.AnswerTime, p.EndTime = stamp(r.Start), stamp(r.Answer), stamp(r.End)
	p.Duration, p.BillableSec = &dur, &bill
	p.Disposition = dispositions[r.Disposition]
	p.RecordingFiles = r.Recordings
}

// agent renders queue member changes: being made a member of a queue (or
// logging in to all of them) is the operator logging in to the call
// centre; a pause is AgentPaused / AgentUnPaused.
func (d *Dialect) agent(ev callmodel.Event) (Payload, bool) {
	p := Payload{Line: ev.User, Queue: ev.Queue}
	switch ev.Kind {
	case callmodel.AgentAdded:
		p.EventName = EventAgentLogin
	case callmodel.AgentRemoved:
		p.EventName = EventAgentLogout
	case callmodel.QueueLoginChanged, callmodel.QueueMemberLoginChanged:
		switch {
		case ev.Paused && ev.LoggedIn:
			p.EventName = EventAgentUnPaused
		case ev.Paused:
			p.EventName = EventAgentPaused
			p.Reason = ev.Reason
		case ev.LoggedIn:
			p.EventName = EventAgentLogin
		default:
			p.EventName = EventAgentLogout
		}
	default:
		return Payload{}, false
	}
	u := d.dir[ev.User]
	p.Login, p.Email = u.Login, u.Email
	return p, true
}
