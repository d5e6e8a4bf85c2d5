package config

import (
	"fmt"

	"github.com/callhook/callhook/core/dialect"
)

// API is the optional [api] section: the engine's autodial API, which
// starts calls through the PBX connection (AMI Originate).
type API struct {
	Listen string // host:port to listen on (key listen); the API is off without it
	Token  Secret // bearer token every request must carry (key token)
	// Context and Prefix: where an originated call from an extension goes
	// in the PBX's dialplan (keys context, default from-internal, and
	// dial_prefix, the outside-line digits, default 9).
	Context string
	Prefix  string
	// Trunk is the endpoint a number-to-number call's first leg is placed
	// through (key trunk, default trunk).
	Trunk string
	// AllowPrivate lets callback_url point at private, loopback or
	// link-local addresses (key allow_private).
	AllowPrivate bool
	// CallbackDialect is the dialect whose payloads go to a call's
	// callback_url (key callback_dialect, default bulutfon: the autodial
	// API with callback_url is Bulutfon's).
	CallbackDialect string
	Line            int // line of the [api] header, 0 when absent
}

// DefaultCallbackDialect formats what goes to an autodial callback_url
// when [api] does not say.
const DefaultCallbackDialect = "bulutfon"

// Callback is the dialect for callback_url payloads.
func (a API) Callback() string {
	if a.CallbackDialect == "" {
		return DefaultCallbackDialect
	}
	return a.CallbackDialect
}

var apiFields = map[string]field[API]{
	"listen": {required: true, set: func(a *API, _, v string) error {
		if err := checkHostPort(v); err != nil {
			return err
		}
		a.Listen = v
		return nil
	}},
	"token": {required: true, set: func(a *API, _, v string) error {
		if len(v) < 16 {
			return fmt.Errorf("token too short (%d characters, want at least 16): the API places calls", len(v))
		}
		a.Token = Secret(v)
		return nil
	}},
	"context":     {set: func(a *API, _, v string) error { a.Context = v; return nil }},
	"dial_prefix": {set: func(a *API, _, v string) error { a.Prefix = v; return nil }},
	"trunk":       {set: func(a *API, _, v string) error { a.Trunk = v; return nil }},
	"callback_dialect": {set: func(a *API, _, v string) error {
		spec, err := dialect.Lookup(v)
		if err != nil {
			return err
		}
		if spec.Callback == nil {
			return fmt.Errorf("dialect %s has no callback format", spec.Name)
		}
		a.CallbackDialect = spec.Name
		return nil
	}},
	"allow_private": {set: func(a *API, _, v string) error {
		b, err := parseBool(v)
		a.AllowPrivate = b
		return err
	}},
}

func checkAPI(sec *iniSection, ps *problems) API {
	a := API{Line: sec.line, Context: "from-internal", Prefix: "9", Trunk: "trunk", CallbackDialect: DefaultCallbackDialect}
	applyFields(sec, apiFields, &a, ps)
	return a
}
