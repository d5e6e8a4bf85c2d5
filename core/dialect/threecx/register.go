package threecx

import (
	"fmt"
	"strings"

	"github.com/callhook/callhook/core/dialect"
)

// Events are the event names the module sends, as the document lists
// them (call events) and as callhook names its status events.
var Events = []string{
	"ringing", "dialing", "hangupincoming", "hangupoutgoing", "incomingcall_started", "outgoingcall_started",
	"incoming", "outgoing", "stoppedringing",
	EventForwardingChanged, EventQueueLoginChanged, EventQueueMemberLoginChanged,
	EventExtensionCreated, EventExtensionDeleted, EventAgentAdded, EventAgentRemoved,
}

func checkEvents(v string) error {
	for _, n := range dialect.List(v) {
		if err := dialect.OneOf(Events...)(n); err != nil {
			return fmt.Errorf("unknown 3cx event %q (want %s)", n, strings.Join(Events, ", "))
		}
	}
	return nil
}

func init() {
	dialect.Register(dialect.Spec{
		Name:       "3cx",
		Doc:        "the 3CX webhooks module: one request per event, the fields as query parameters",
		Recordings: true,
		Keys: map[string]dialect.Key{
			"profile": {Doc: "started=hangupincoming|incomingcall_started, trtype=Accomp|Accom (comma-separated)",
				Check: func(v string) error { _, err := ParseProfile(v); return err }},
			"method": {Doc: "GET (default), POST, PUT or PATCH", Check: dialect.OneOf("GET", "POST", "PUT", "PATCH")},
			"events": {Doc: "comma-separated event subset (default: all)", Check: checkEvents},
			"stoppedringing": {Doc: "true: also send stoppedringing when a phone stops ringing while the call goes on",
				Check: dialect.CheckBool},
		},
		New: func(w dialect.Webhook) (dialect.Renderer, error) {
			p, err := ParseProfile(w.Option("profile"))
			if err != nil {
				return nil, &dialect.KeyError{Key: "profile", Err: err}
			}
			opts := []Option{WithProfile(p)}
			if w.Location != nil {
				opts = append(opts, WithLocation(w.Location))
			}
			if m := w.Option("method"); m != "" {
				opts = append(opts, WithMethod(strings.ToUpper(m)))
			}
			if events := dialect.List(w.Option("events")); len(events) > 0 {
				opts = append(opts, WithEvents(events))
			}
			if on, _ := dialect.Bool(w.Option("stoppedringing")); on {
				opts = append(opts, WithStoppedRinging())
			}
			if r := w.Recordings; r != nil {
				p := InQuery
				if r.IDInBody {
					p = InBody
				}
				opts = append(opts, WithRecordings(p, r.FullFields))
			}
			return New(w.Name, w.URL, opts...), nil
		},
	})
}
