// Package threecx renders call events as the 3CX "webhooks" module sends
// them: an HTTP request per event with the fields as query parameters,
// named and valued as the module's documentation gives them.
package threecx

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/webhook"
)

// Profile names a variant of the dialect where the vendor's documents
// disagree (see the product specification, "Ambiguities").
type Profile struct {
	// StartedIncomingCall names call-started events as the Turkish
	// document's list does (incomingcall_started / outgoingcall_started)
	// instead of hangupincoming / hangupoutgoing.
	StartedIncomingCall bool
	// Accom spells the attended-transfer trtype "Accom" (Turkish document)
	// instead of "Accomp" (English document).
	Accom bool
}

// ParseProfile reads a comma-separated profile list, e.g.
// "started=incomingcall_started,trtype=Accom". An empty string is the
// default profile.
func ParseProfile(s string) (Profile, error) {
	var p Profile
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "default" {
			continue
		}
		switch strings.ToLower(part) {
		case "started=incomingcall_started", "incomingcall_started":
			p.StartedIncomingCall = true
		case "started=hangupincoming", "hangupincoming":
			p.StartedIncomingCall = false
		case "trtype=accom", "accom":
			p.Accom = true
		case "trtype=accomp", "accomp":
			p.Accom = false
		default:
			return p, fmt.Errorf("3cx profile: unknown option %q (want started=hangupincoming|incomingcall_started, trtype=Accomp|Accom)", part)
		}
	}
	return p, nil
}

// Dialect renders call events for one receiver.
type Dialect struct {
	target         *url.URL
	receiver       string
	profile        Profile
	loc            *time.Location
	method         string
	events         map[string]bool // nil: every event the module has
	stoppedRinging bool
	recordings     bool // WithRecordings
	placement      Placement
	fullFields     bool
}

// Option configures a Dialect.
type Option func(*Dialect)

// WithProfile selects a profile.
func WithProfile(p Profile) Option { return func(d *Dialect) { d.profile = p } }

// WithLocation sets the time zone of the date-time in call ids: the PBX's
// local time, as the module writes it. Default: the engine's local zone.
func WithLocation(loc *time.Location) Option { return func(d *Dialect) { d.loc = loc } }

// WithMethod sets the HTTP method; the module's documented requests are
// plain URLs with query parameters, so the default is GET.
func WithMethod(m string) Option { return func(d *Dialect) { d.method = m } }

// WithEvents limits the receiver to the named events (see Events), as
// the module's settings choose which events it sends.
func WithEvents(names []string) Option {
	return func(d *Dialect) {
		d.events = map[string]bool{}
		for _, n := range names {
			d.events[strings.ToLower(n)] = true
		}
	}
}

// WithStoppedRinging sends stoppedringing when a phone stops ringing
// while the call goes on elsewhere: the gap the document notes in its
// module, closed on request.
func WithStoppedRinging() Option { return func(d *Dialect) { d.stoppedRinging = true } }

// New returns a dialect that sends to target, for the receiver named name.
func New(name string, target *url.URL, opts ...Option) *Dialect {
	d := &Dialect{target: target, receiver: name, loc: time.Local, method: http.MethodGet}
	for _, o := range opts {
		o(d)
	}
	return d
}

// FormatID writes a call id as the 3CX document defines it:
// <yyMMddHHmmss>_<call number>-<link>, e.g. 210701165649_698-2.
func FormatID(id callmodel.CallID, loc *time.Location) string { return id.Format(loc) }

// Render returns the request for ev, and false when the module sends
// nothing for such an event.
func (d *Dialect) Render(ev callmodel.Event) (webhook.Request, bool) {
	if ev.Direction == callmodel.Internal || ev.Direction == callmodel.Barge {
		// The module reports calls with the outside world only.
		return webhook.Request{}, false
	}
	if ev.Kind == callmodel.Ended && ev.UserType == callmodel.UserOther {
		// A call nobody took that ended in a menu: the module reports the
		// calls of extensions and queues.
		return webhook.Request{}, false
	}
	if ev.Kind == callmodel.StoppedRinging && !d.stoppedRinging {
		return webhook.Request{}, false
	}
	if ev.Kind == callmodel.RecordingReady || ev.Kind == callmodel.TranscriptReady {
		return d.recordingRequest(ev)
	}
	q, ok := d.params(ev)
	if !ok {
		return webhook.Request{}, false
	}
	if d.events != nil && !d.events[q.get("event")] {
		return webhook.Request{}, false
	}
	u := *d.target
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.encode()
	} else {
		u.RawQuery = q.encode()
	}
	return webhook.Request{
		ID:       d.receiver + "-" + ev.Key(),
		Receiver: d.receiver,
		CallKey:  ev.OrderKey(),
		Method:   d.method,
		URL:      u.String(),
		Header:   http.Header{},
	}, true
}

// params builds the query in the order of the document's example requests.
func (d *Dialect) params(ev callmodel.Event) (query, bool) {
	id := FormatID(ev.ID, d.loc)
	in := ev.Direction == callmodel.Inbound
	switch ev.Kind {
	case callmodel.Ringing:
		// https://webhook.site/?event=ringing&callerid=…&user=120&usertype=other&did=CompanyDID&id=211230100614_331-0
		return query{
			{"event", "ringing"}, {"callerid", ev.External}, {"user", ev.User},
			{"usertype", userType(ev.UserType)}, {"did", ev.DID}, {"id", id},
		}, true
	case callmodel.Dialing:
		return query{
			{"event", "dialing"}, {"callerid", ev.External}, {"user", ev.User},
			{"usertype", userType(ev.UserType)}, {"id", id},
		}, true
	case callmodel.Answered:
		// https://webhook.site/?callerid=…&event=hangupincoming&user=120&did=CompanyDID&trtype=NotDef&id=220106205945_323-1
		q := query{{"callerid", ev.External}, {"event", d.startedName(in)}, {"user", ev.User}}
		if in {
			q = append(q, param{"did", ev.DID})
		}
		return append(q, param{"trtype", d.trType(ev.Transfer)}, param{"id", id}), true
	case callmodel.Ended:
		name := "outgoing"
		if in {
			name = "incoming"
		}
		q := query{{"event", name}, {"callerid", ev.External}, {"user", ev.User}}
		if in {
			q = append(q, param{"did", ev.DID})
		}
		q = append(q, param{"finishtype", finishType(ev.Finish)}, param{"transfer", strconv.FormatBool(ev.Transferred)})
		if ev.Finish == callmodel.FinishOK {
			// The document gives duration for successful calls only.
			q = append(q, param{"duration", strconv.Itoa(int(ev.Talk / time.Second))})
		}
		return append(q, param{"title", Title(ev)}, param{"id", id}), true
	case callmodel.StoppedRinging:
		// Opt-in (WithStoppedRinging); shaped as ringing.
		return query{
			{"event", "stoppedringing"}, {"callerid", ev.External}, {"user", ev.User},
			{"usertype", userType(ev.UserType)}, {"did", ev.DID}, {"id", id},
		}, true
	}
	return statusParams(ev)
}

// Status event names. The document lists the status changes the module
// reports but not their wire form; they follow the call events: one
// request each, fields as query parameters, named by event=.
const (
	EventForwardingChanged       = "forwardingchanged"
	EventQueueLoginChanged       = "queueloginchanged"
	EventQueueMemberLoginChanged = "queuememberloginchanged"
	EventExtensionCreated        = "extensioncreated"
	EventExtensionDeleted        = "extensiondeleted"
	EventAgentAdded              = "agentadded"
	EventAgentRemoved            = "agentremoved"
)

func statusParams(ev callmodel.Event) (query, bool) {
	login := func(in bool) string {
		if in {
			return "login"
		}
		return "logout"
	}
	switch ev.Kind {
	case callmodel.ForwardingChanged:
		status := "off"
		if ev.Forwarding {
			status = "on"
		}
		return query{{"event", EventForwardingChanged}, {"user", ev.User}, {"status", status}, {"destination", ev.Destination}}, true
	case callmodel.QueueLoginChanged:
		return query{{"event", EventQueueLoginChanged}, {"user", ev.User}, {"status", login(ev.LoggedIn)}}, true
	case callmodel.QueueMemberLoginChanged:
		return query{{"event", EventQueueMemberLoginChanged}, {"user", ev.User}, {"queue", ev.Queue},
			{"status", login(ev.LoggedIn)}, {"reason", ev.Reason}}, true
	case callmodel.ExtensionCreated:
		return query{{"event", EventExtensionCreated}, {"user", ev.User}, {"name", ev.UserName}}, true
	case callmodel.ExtensionDeleted:
		return query{{"event", EventExtensionDeleted}, {"user", ev.User}}, true
	case callmodel.AgentAdded:
		return query{{"event", EventAgentAdded}, {"user", ev.User}, {"queue", ev.Queue}}, true
	case callmodel.AgentRemoved:
		return query{{"event", EventAgentRemoved}, {"user", ev.User}, {"queue", ev.Queue}}, true
	}
	return nil, false
}

func (d *Dialect) startedName(in bool) string {
	switch {
	case d.profile.StartedIncomingCall && in:
		return "incomingcall_started"
	case d.profile.StartedIncomingCall:
		return "outgoingcall_started"
	case in:
		return "hangupincoming"
	}
	return "hangupoutgoing"
}

func (d *Dialect) trType(t callmodel.TransferType) string {
	switch t {
	case callmodel.TransferBlind:
		return "Blind"
	case callmodel.TransferAttended:
		if d.profile.Accom {
			return "Accom"
		}
		return "Accomp"
	}
	return "NotDef"
}

func userType(t callmodel.UserType) string {
	switch t {
	case callmodel.UserQueue:
		return "queue"
	case callmodel.UserOther:
		return "other"
	}
	return "ext"
}

func finishType(f callmodel.Finish) string {
	if f == callmodel.FinishMissed {
		return "Missed"
	}
	return "Ok"
}

// Title is the readable sentence the module puts in call-ended events: the
// DID rule of an incoming call, how it finished, whether a callback was
// ordered when it ended at queue level, and its duration.
func Title(ev callmodel.Event) string {
	var b strings.Builder
	queueLevel := ev.Finish == callmodel.FinishMissed && ev.UserType == callmodel.UserQueue
	switch {
	case ev.Direction == callmodel.Inbound && queueLevel:
		fmt.Fprintf(&b, "Missed incoming call from %s in queue %s", ev.External, ev.User)
	case ev.Direction == callmodel.Inbound && ev.Finish == callmodel.FinishMissed:
		fmt.Fprintf(&b, "Missed incoming call from %s to %s", ev.External, ev.User)
	case ev.Direction == callmodel.Inbound:
		fmt.Fprintf(&b, "Incoming call from %s answered by %s", ev.External, ev.User)
	case ev.Finish == callmodel.FinishMissed:
		fmt.Fprintf(&b, "Unanswered outgoing call from %s to %s", ev.User, ev.External)
	default:
		fmt.Fprintf(&b, "Outgoing call from %s to %s", ev.User, ev.External)
	}
	if ev.Direction == callmodel.Inbound && ev.DIDName != "" {
		fmt.Fprintf(&b, ", DID rule %s", ev.DIDName)
	}
	if queueLevel {
		if ev.Callback {
			b.WriteString(", callback ordered")
		} else {
			b.WriteString(", no callback ordered")
		}
	}
	if ev.Transferred {
		b.WriteString(", transferred")
	}
	if ev.Finish == callmodel.FinishOK {
		s := int(ev.Talk / time.Second)
		fmt.Fprintf(&b, ", duration %02d:%02d", s/60, s%60)
	}
	return b.String()
}

type param struct{ key, value string }

// query keeps parameters in the document's order; url.Values would sort them.
type query []param

func (q query) get(key string) string {
	for _, p := range q {
		if p.key == key {
			return p.value
		}
	}
	return ""
}

func (q query) encode() string {
	var b strings.Builder
	for i, p := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return b.String()
}
