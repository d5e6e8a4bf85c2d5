// Package bulutfon renders call events as Bulutfon web hooks send them: a
// POST per event to the receiver, JSON by default or
// application/x-www-form-urlencoded, with the fields and names of the
// Bulutfon web hooks document. Each webhook may be bound to one PBX number
// and a subset of events; calls started through the autodial API carry
// autodial, additional_data and callback_url.
package bulutfon

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/webhook"
)

// Event types, as the current document's examples name them.
const (
	EventCallInit      = "call_init"
	EventCallHangup    = "call_hangup"
	EventFaxInit       = "fax_init"
	EventMissingCall   = "missing_call"
	EventExtension     = "incoming_call_extension"
	EventGroup         = "incoming_call_group"
	EventMenu          = "call_init_menu"
	LegacyEventExt     = "call_init_extension" // legacy profile and both documents' lists
	LegacyEventGroup   = "call_init_group"
	legacyEventMenuTyp = "call_init_manu" // the lists' misspelling, accepted in events
)

// Events are the event types a webhook can choose (events = ...).
var Events = []string{EventCallInit, EventCallHangup, EventFaxInit, EventMissingCall, EventExtension, EventGroup, EventMenu}

// aliases maps the names the documents' lists use to the event they mean.
var aliases = map[string]string{
	LegacyEventExt: EventExtension, LegacyEventGroup: EventGroup, legacyEventMenuTyp: EventMenu,
}

// ErrUnknownEvent: an events list names an event the documents do not.
var ErrUnknownEvent = errors.New("unknown bulutfon event")

// ParseEvents checks an event subset and returns it with the lists'
// aliases resolved; an empty list means every event.
func ParseEvents(names []string) (map[string]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	set := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if a, ok := aliases[n]; ok {
			n = a
		}
		if !slices.Contains(Events, n) {
			return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownEvent, n, strings.Join(Events, ", "))
		}
		set[n] = true
	}
	return set, nil
}

// Profile names a variant where the documents differ (see the product
// specification, "Ambiguities").
type Profile struct {
	// Legacy is the older document: landings named call_init_extension /
	// call_init_group, no domain_id/account_id, and call end (and missed
	// call) carrying a nested cdr object with its callflow instead of the
	// flat talk_duration … cdr_api_url fields.
	Legacy bool
}

// ParseProfile reads "legacy" or "current" ("" is current).
func ParseProfile(s string) (Profile, error) {
	var p Profile
	for _, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "", "default", "current":
		case "legacy":
			p.Legacy = true
		default:
			return p, fmt.Errorf("bulutfon profile: unknown option %q (want legacy or current)", part)
		}
	}
	return p, nil
}

// Dialect renders call events for one webhook.
type Dialect struct {
	receiver  string
	target    *url.URL
	profile   Profile
	form      bool
	number    string
	events    map[string]bool
	domain    string
	account   string
	cdrBase   string
	cdrAPI    string
	loc       *time.Location
	callbacks bool
}

// Option configures a Dialect.
type Option func(*Dialect)

// WithProfile selects a profile.
func WithProfile(p Profile) Option { return func(d *Dialect) { d.profile = p } }

// WithForm sends application/x-www-form-urlencoded bodies instead of JSON.
func WithForm() Option { return func(d *Dialect) { d.form = true } }

// WithPBXNumber binds the webhook to one PBX number: only calls to it
// (inbound, by DID) or from it (autodial calls placed for it) are sent.
func WithPBXNumber(n string) Option { return func(d *Dialect) { d.number = n } }

// WithEvents limits the webhook to a subset of events (see ParseEvents).
func WithEvents(set map[string]bool) Option { return func(d *Dialect) { d.events = set } }

// WithAccount sets domain_id (the PBX's id) and account_id (the CRM
// account code); without them both are null.
func WithAccount(domainID, accountID string) Option {
	return func(d *Dialect) { d.domain, d.account = domainID, accountID }
}

// WithCDR sets the bases of cdr_url and cdr_api_url; each link is the base
// followed by /YYYY/MM/DD/<uuid>, as in the document's example. Without a
// base the field is null.
func WithCDR(base, apiBase string) Option {
	return func(d *Dialect) {
		d.cdrBase, d.cdrAPI = strings.TrimRight(base, "/"), strings.TrimRight(apiBase, "/")
	}
}

// WithLocation sets the zone of the legacy cdr's times and of the date in
// CDR links (the PBX's). Default: the engine's local zone.
func WithLocation(loc *time.Location) Option { return func(d *Dialect) { d.loc = loc } }

// WithCallbacks makes the dialect render for autodial callback URLs: every
// event of a call started with a callback_url goes to that URL, whatever
// the binding and event subset; nothing else is sent.
func WithCallbacks() Option { return func(d *Dialect) { d.callbacks = true } }

// New returns a dialect that sends to target for the webhook named name.
func New(name string, target *url.URL, opts ...Option) *Dialect {
	d := &Dialect{receiver: name, target: target, loc: time.Local}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Render returns the request for ev, and false when this webhook sends
// nothing for it. It keeps nothing between events: what the legacy cdr
// tells of the whole call comes with the event that ends it.
func (d *Dialect) Render(ev callmodel.Event) (webhook.Request, bool) {
	if ev.Kind.IsStatus() || (ev.Direction != callmodel.Inbound && ev.Direction != callmodel.Outbound) {
		return webhook.Request{}, false
	}
	name := d.eventType(ev)
	if name == "" {
		return webhook.Request{}, false
	}
	ad := ev.Originated
	target := d.target
	if d.callbacks {
		if ad == nil || ad.CallbackURL == nil {
			return webhook.Request{}, false
		}
		u, err := url.Parse(*ad.CallbackURL)
		if err != nil {
			return webhook.Request{}, false
		}
		target = u
	} else {
		if !d.bound(ev, ad) {
			return webhook.Request{}, false
		}
		if d.events != nil && !d.events[canonical(name)] {
			return webhook.Request{}, false
		}
	}
	body := d.payload(name, ev, ad)
	h := http.Header{}
	var raw []byte
	if d.form {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		raw = body.Form()
	} else {
		h.Set("Content-Type", "application/json")
		raw = body.JSON()
	}
	return webhook.Request{
		ID:       d.receiver + "-" + ev.Key(),
		Receiver: d.receiver,
		CallKey:  ev.OrderKey(),
		Method:   http.MethodPost,
		URL:      target.String(),
		Header:   h,
		Body:     raw,
	}, true
}

func canonical(name string) string {
	if a, ok := aliases[name]; ok {
		return a
	}
	return name
}

// bound says whether ev belongs to the webhook's PBX number.
func (d *Dialect) bound(ev callmodel.Event, ad *callmodel.Origination) bool {
	if d.number == "" {
		return true
	}
	if ev.Direction == callmodel.Inbound {
		return ev.DID == d.number
	}
	return ad != nil && ad.PBXNumber == d.number
}

// eventType names ev's event, "" when the documents have none for it.
func (d *Dialect) eventType(ev callmodel.Event) string {
	switch ev.Kind {
	case callmodel.Initiated:
		return EventCallInit
	case callmodel.Ended:
		if ev.Transferred {
			return "" // one link of the call ended; the call goes on
		}
		return EventCallHangup
	case callmodel.Missed:
		return EventMissingCall
	case callmodel.FaxReceived:
		return EventFaxInit
	case callmodel.Landed:
		switch ev.UserType {
		case callmodel.UserQueue:
			if d.profile.Legacy {
				return LegacyEventGroup
			}
			return EventGroup
		case callmodel.UserOther:
			return EventMenu
		}
		if d.profile.Legacy {
			return LegacyEventExt
		}
		return EventExtension
	}
	return ""
}

// Parties of ev: the caller and the callee numbers. Inbound: the outside
// caller and the PBX number it called. Outbound: the extension and the
// number it dialled (an autodial call bound to a PBX number shows that
// number as the caller, as the carrier does).
func parties(ev callmodel.Event, ad *callmodel.Origination) (caller, callee string) {
	if ev.Direction == callmodel.Inbound {
		return ev.External, ev.DID
	}
	caller = ev.Origin
	if caller == "" {
		caller = ev.User
	}
	if ad != nil && ad.PBXNumber != "" {
		caller = ad.PBXNumber
	}
	return caller, ev.External
}

func direction(ev callmodel.Event) string {
	if ev.Direction == callmodel.Inbound {
		return "IN"
	}
	return "OUT"
}

// payload builds the event's fields in the documents' order.
func (d *Dialect) payload(name string, ev callmodel.Event, ad *callmodel.Origination) object {
	uuid := callUUID(ev)
	caller, callee := parties(ev, ad)
	o := object{{"event_type", name}}
	if !d.profile.Legacy {
		o = o.with("domain_id", numOrNull(d.domain)).with("account_id", numOrNull(d.account))
	}
	o = o.with("caller", numOrNull(caller)).with("callee", numOrNull(callee)).with("uuid", uuid)
	end := ev.Kind == callmodel.Ended || (ev.Kind == callmodel.Missed && d.profile.Legacy)
	if end {
		// The call-end example's order: uuid, timestamp, hangup_cause, direction, ….
		o = o.with("timestamp", ev.Time.UnixMicro()).with("hangup_cause", hangupCause(ev)).with("direction", direction(ev))
	} else {
		o = o.with("direction", direction(ev)).with("timestamp", ev.Time.UnixMicro())
	}
	if ev.Kind == callmodel.Landed {
		o = o.with("destination", numText(ev.Destination))
	}
	if ad != nil {
		o = o.with("autodial", true).with("additional_data", strPtr(ad.AdditionalData)).with("callback_url", strPtr(ad.CallbackURL))
	}
	if !end {
		return o
	}
	if d.profile.Legacy {
		return o.with("cdr", d.cdr(ev, uuid, caller, callee))
	}
	day := ev.Time.In(d.loc).Format("2006/01/02")
	link := func(base string) value {
		if base == "" {
			return null{}
		}
		return base + "/" + day + "/" + uuid
	}
	disposition := ""
	if ev.Finish == callmodel.FinishOK {
		disposition = "SUCCESS"
	}
	return o.with("talk_duration", int64((ev.Talk+ev.Listened)/time.Second)).
		with("hangup_detail", hangupDetailOf(ev)).
		with("result_disposition", disposition).
		with("cdr_url", link(d.cdrBase)).
		with("cdr_api_url", link(d.cdrAPI))
}

func strPtr(s *string) value {
	if s == nil {
		return null{}
	}
	return *s
}

// hangupCause is the call-end's hangup_cause: the PBX's own name when it
// names causes as Bulutfon's switch does (FreeSWITCH's Hangup-Cause:
// ORIGINATOR_CANCEL, LOSE_RACE, ... beside the Q.850 names), else the
// Q.850 name of its cause number.
func hangupCause(ev callmodel.Event) string {
	if ev.HangupCause != "" {
		return ev.HangupCause
	}
	return CauseName(ev.Cause)
}

// hangupDetailOf is the call-end's hangup_detail: the caller leg's
// sip_hangup_disposition when the PBX says (FreeSWITCH does), put in the
// document's three values (recv_cancel, a caller cancelling, is the
// caller's recv_bye; send_cancel, the PBX giving up an unanswered leg,
// its send_bye; recv_refuse, the leg refusing, a send_refuse), else who
// the model says ended the call.
func hangupDetailOf(ev callmodel.Event) string {
	switch ev.HangupDisposition {
	case "recv_bye", "recv_cancel":
		return "recv_bye"
	case "send_bye", "send_cancel":
		return "send_bye"
	case "send_refuse", "recv_refuse":
		return "send_refuse"
	}
	return hangupDetail(ev.EndedBy)
}

// hangupDetail: send_bye the callee hung up, recv_bye the caller did,
// send_refuse the call was refused.
func hangupDetail(p callmodel.Party) string {
	switch p {
	case callmodel.ByCaller:
		return "recv_bye"
	case callmodel.Refused:
		return "send_refuse"
	}
	return "send_bye"
}
