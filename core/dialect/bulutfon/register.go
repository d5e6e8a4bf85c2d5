package bulutfon

import (
	"fmt"
	"strings"

	"github.com/callhook/callhook/core/dialect"
)

// Keys of a bulutfon [webhook.NAME] section, beside the ones every webhook
// has. The documents bind each web hook to one PBX number and a subset of
// events, and offer JSON or form bodies.
var keys = map[string]dialect.Key{
	"profile": {Doc: "current (default) or legacy: the older document's event names and nested cdr",
		Check: func(v string) error { _, err := ParseProfile(v); return err }},
	"format": {Doc: "json (default) or form (application/x-www-form-urlencoded)", Check: dialect.OneOf("json", "form")},
	"events": {Doc: "comma-separated event subset (default: all): " + strings.Join(Events, ", "),
		Check: func(v string) error { _, err := ParseEvents(dialect.List(v)); return err }},
	"pbx_number":  {Doc: "the PBX number the web hook is bound to: only calls to it (or autodial calls for it)"},
	"domain_id":   {Doc: "domain_id in the payloads (null when unset)"},
	"account_id":  {Doc: "account_id in the payloads (null when unset)"},
	"cdr_url":     {Doc: "base of cdr_url links (…/YYYY/MM/DD/<uuid>); null when unset", Check: checkBase},
	"cdr_api_url": {Doc: "base of cdr_api_url links; null when unset", Check: checkBase},
	"method": {Doc: "POST: the documents' web hooks are POSTed",
		Check: func(v string) error {
			if !strings.EqualFold(v, "POST") {
				return fmt.Errorf("bulutfon web hooks are POSTed, not sent with %s", v)
			}
			return nil
		}},
}

func checkBase(v string) error {
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("%q: want an http:// or https:// base URL", v)
	}
	return nil
}

// options turns a webhook's keys into the dialect's options.
func options(w dialect.Webhook) ([]Option, error) {
	p, err := ParseProfile(w.Option("profile"))
	if err != nil {
		return nil, &dialect.KeyError{Key: "profile", Err: err}
	}
	events, err := ParseEvents(dialect.List(w.Option("events")))
	if err != nil {
		return nil, &dialect.KeyError{Key: "events", Err: err}
	}
	opts := []Option{
		WithProfile(p), WithEvents(events), WithPBXNumber(w.Option("pbx_number")),
		WithAccount(w.Option("domain_id"), w.Option("account_id")), WithCDR(w.Option("cdr_url"), w.Option("cdr_api_url")),
	}
	if strings.EqualFold(w.Option("format"), "form") {
		opts = append(opts, WithForm())
	}
	if w.Location != nil {
		opts = append(opts, WithLocation(w.Location))
	}
	return opts, nil
}

func init() {
	dialect.Register(dialect.Spec{
		Name: "bulutfon",
		Doc:  "Bulutfon web hooks: a POST per event, JSON or form, bound to one PBX number",
		Keys: keys,
		New: func(w dialect.Webhook) (dialect.Renderer, error) {
			opts, err := options(w)
			if err != nil {
				return nil, err
			}
			return New(w.Name, w.URL, opts...), nil
		},
		// The documents' autodial API takes a callback_url that gets the
		// call's events.
		Callback: func(w dialect.Webhook) (dialect.Renderer, error) {
			opts, err := options(w)
			if err != nil {
				return nil, err
			}
			return New(w.Name, nil, append(opts, WithCallbacks())...), nil
		},
	})
}
