package config

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/dialect"
)

// Each section's keys are a table from key to a parse function, so adding a
// key is one table entry. A key ending in ".*" matches every key with that
// prefix (header.X-Token = ...).

// field is one known key of a section whose values land in a T.
type field[T any] struct {
	required bool
	set      func(dst *T, key, value string) error
}

// Connectors names the [pbx] types the engine can run: those registered
// in core/connector.
func Connectors() []string { return connector.Types() }

// Dialects names the payload formats a webhook can ask for: those
// registered in core/dialect.
func Dialects() []string { return dialect.Names() }

var pbxFields = map[string]field[PBX]{
	"type": {required: true, set: func(p *PBX, _, v string) error {
		v = strings.ToLower(v)
		if _, err := connector.Lookup(v); err == nil {
			p.Type = v
			return nil
		}
		return fmt.Errorf("unknown connector %q (want %s)", v, strings.Join(Connectors(), ", "))
	}},
	"timezone": {set: func(p *PBX, _, v string) error {
		loc, err := time.LoadLocation(v)
		if err != nil {
			return fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Istanbul, or Local)", v)
		}
		p.Timezone = loc
		return nil
	}},
}

var webhookFields = map[string]field[Webhook]{
	"url": {required: true, set: func(w *Webhook, _, v string) error {
		u, err := url.Parse(v)
		if err != nil {
			return fmt.Errorf("invalid URL %q: %v", v, errors.Unwrap(err))
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("URL %q: want an absolute http:// or https:// URL", v)
		}
		if u.Host == "" || u.Hostname() == "" {
			return fmt.Errorf("URL %q has no host", v)
		}
		w.URL = u
		return nil
	}},
	"dialect": {required: true, set: func(w *Webhook, _, v string) error {
		spec, err := dialect.Lookup(v)
		w.Dialect = spec.Name
		return err
	}},
	"username": {set: func(w *Webhook, _, v string) error { w.Username = v; return nil }},
	"password": {set: func(w *Webhook, _, v string) error { w.Password = Secret(v); return nil }},
	"signing_secret": {set: func(w *Webhook, _, v string) error {
		w.SigningSecret = Secret(v)
		return checkSigningSecret(v)
	}},
	"timeout": {set: func(w *Webhook, _, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 10s, 1500ms)", v)
		}
		if d <= 0 {
			return fmt.Errorf("timeout %s must be positive", v)
		}
		w.Timeout = d
		return nil
	}},
	"header.*": {set: func(w *Webhook, key, v string) error {
		name := key[len("header."):]
		if !isToken(name) {
			return fmt.Errorf("invalid header name %q", name)
		}
		if w.Headers == nil {
			w.Headers = map[string]string{}
		}
		w.Headers[http.CanonicalHeaderKey(name)] = v
		return nil
	}},
	// The old secret during a rotation: requests carry a signature for each.
	"signing_secret_previous": {set: func(w *Webhook, _, v string) error {
		w.SigningSecretPrevious = Secret(v)
		return checkSigningSecret(v)
	}},
}

// checkSigningSecret refuses what cannot sign, on the key's line with
// the rest, rather than when the service starts.
func checkSigningSecret(v string) error {
	if _, err := delivery.NewSigner(v); err != nil {
		return fmt.Errorf("%w (want whsec_ followed by the base64 of 16 to 64 random bytes, as Standard Webhooks secrets are)", errors.Unwrap(err))
	}
	return nil
}

// checkPBX reads [pbx]: its type names the connector, whose own keys are
// checked in the same pass as the common ones.
func checkPBX(sec *iniSection, ps *problems) PBX {
	p := PBX{Timezone: time.Local, Line: sec.line, Options: map[string]string{}, Secrets: map[string]Secret{}}
	table := maps.Clone(pbxFields)
	spec, err := connector.Lookup(sec.value("type"))
	if err == nil {
		for k, key := range spec.Keys {
			table[k] = field[PBX]{required: key.Required, set: func(p *PBX, k, v string) error {
				if key.Check != nil {
					if err := key.Check(v); err != nil {
						return err
					}
				}
				if key.Secret {
					p.Secrets[k] = Secret(v)
				} else {
					p.Options[k] = v
				}
				return nil
			}}
		}
	} else {
		// The type is wrong (and reported): accept every connector's keys
		// rather than call each of them unknown.
		for _, t := range connector.Types() {
			spec, _ := connector.Lookup(t)
			for k := range spec.Keys {
				table[k] = field[PBX]{set: func(*PBX, string, string) error { return nil }}
			}
		}
	}
	seen := applyFields(sec, table, &p, ps)
	p.Lines = seen
	return p
}

// checkWebhook reads one [webhook.NAME]: its dialect key names the
// dialect, whose own keys are checked in the same pass as the common ones.
func checkWebhook(name string, sec *iniSection, ps *problems) Webhook {
	w := Webhook{Name: name, Timeout: DefaultWebhookTimeout, Line: sec.line, Options: map[string]string{}}
	table := maps.Clone(webhookFields)
	spec, err := dialect.Lookup(sec.value("dialect"))
	if err == nil {
		for k, key := range spec.Keys {
			table[k] = field[Webhook]{set: func(w *Webhook, k, v string) error {
				if key.Check != nil {
					if err := key.Check(v); err != nil {
						return err
					}
				}
				w.Options[k] = v
				return nil
			}}
		}
	} else {
		// The dialect is wrong or missing (and reported): accept every
		// dialect's keys rather than call each of them unknown.
		for _, n := range dialect.Names() {
			spec, _ := dialect.Lookup(n)
			for k := range spec.Keys {
				table[k] = field[Webhook]{set: func(*Webhook, string, string) error { return nil }}
			}
		}
	}
	seen := applyFields(sec, table, &w, ps)
	w.OptionLines = map[string]int{}
	for k := range w.Options {
		w.OptionLines[k] = seen[k]
	}
	if _, ok := seen["password"]; ok && w.Username == "" {
		ps.add(seen["password"], sec.name, "password", "set without username (basic auth needs both)")
	}
	if line, ok := seen["username"]; ok && w.Username != "" && w.Password == "" {
		ps.add(line, sec.name, "username", "set without password (basic auth needs both)")
	}
	if line, ok := seen["signing_secret_previous"]; ok && w.SigningSecretPrevious != "" {
		switch {
		case w.SigningSecret == "":
			ps.add(line, sec.name, "signing_secret_previous", "set without signing_secret (it is the old secret kept valid while receivers switch to the new one)")
		case w.SigningSecretPrevious == w.SigningSecret:
			ps.add(line, sec.name, "signing_secret_previous", "same as signing_secret (put the old secret here, the new one in signing_secret)")
		}
	}
	if _, set := seen["allow_private"]; !set && w.URL != nil && loopbackHost(w.URL.Hostname()) {
		// A receiver the file names by a loopback address is the
		// operator's explicit choice, not a forged destination: the
		// product specification's minimal configuration delivers to
		// http://127.0.0.1:9000/hook. Names that merely resolve to
		// loopback, and private or link-local addresses, stay refused;
		// allow_private = false refuses loopback too.
		w.AllowPrivate = true
	}
	return w
}

// loopbackHost reports whether host is written as a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// applyFields sets dst from the section's entries through the table, adding
// a problem for each unknown, duplicate, empty-required or invalid key, and
// for each required key that is absent (named at the section header). It
// returns the line each key was first set on.
func applyFields[T any](sec *iniSection, table map[string]field[T], dst *T, ps *problems) map[string]int {
	seen := map[string]int{}
	for _, e := range sec.entries {
		f, ok := table[e.key]
		if !ok {
			if i := strings.IndexByte(e.key, '.'); i > 0 {
				f, ok = table[e.key[:i]+".*"]
			}
		}
		if !ok {
			known := slices.Sorted(maps.Keys(table))
			hint := ""
			if near := closest(e.key, known); near != "" {
				hint = fmt.Sprintf("did you mean %q? ", near)
			}
			ps.add(e.line, sec.name, e.key, "unknown key (%sknown: %s)", hint, strings.Join(known, ", "))
			continue
		}
		if first, dup := seen[e.key]; dup {
			ps.add(e.line, sec.name, e.key, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[e.key] = e.line
		if e.value == "" {
			if f.required {
				ps.add(e.line, sec.name, e.key, "empty value (required)")
			}
			continue
		}
		if err := f.set(dst, e.key, e.value); err != nil {
			ps.add(e.line, sec.name, e.key, "%v", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(table)) {
		if _, ok := seen[k]; table[k].required && !ok {
			ps.add(sec.line, sec.name, k, "missing (required)")
		}
	}
	return seen
}

func oneOf(what, v string, allowed []string) (string, error) {
	lv := strings.ToLower(v)
	for _, a := range allowed {
		if strings.ToLower(a) == lv {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown %s %q (want %s)", what, v, strings.Join(allowed, ", "))
}

// checkHostPort accepts host:port with a numeric port in 1–65535.
func checkHostPort(v string) error { return connector.HostPort(v) }

// isToken reports whether s is an HTTP header field name (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// parseDuration reads a positive duration such as 500ms, 10s or 5m.
func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 10s, 1500ms)", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %s must be positive", v)
	}
	return d, nil
}

// parseCount reads a whole number in [lo, hi].
func parseCount(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want a whole number %d-%d, got %q", lo, hi, v)
	}
	return n, nil
}

// parseBool reads true/false, yes/no, on/off, 1/0.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

// retryFields are the retry schedule keys, shared by [delivery] (the
// default) and [webhook.NAME] (per receiver).
func retryFields[T any](get func(*T) *Retry) map[string]field[T] {
	return map[string]field[T]{
		"retry_attempts": {set: func(d *T, _, v string) error {
			n, err := parseCount(v, 1, 1000)
			get(d).Attempts = n
			return err
		}},
		"retry_min": {set: func(d *T, _, v string) error {
			x, err := parseDuration(v)
			get(d).Min = x
			return err
		}},
		"retry_max": {set: func(d *T, _, v string) error {
			x, err := parseDuration(v)
			get(d).Max = x
			return err
		}},
	}
}

var deliveryFields = func() map[string]field[Delivery] {
	m := map[string]field[Delivery]{
		"dir":      {set: func(d *Delivery, _, v string) error { d.Dir = v; return nil }},
		"nats_url": {set: func(d *Delivery, _, v string) error { d.NATSURL = v; return nil }},
		"node":     {set: func(d *Delivery, _, v string) error { d.Node = v; return nil }},
		"replicas": {set: func(d *Delivery, _, v string) error {
			n, err := parseCount(v, 1, 5)
			d.Replicas = n
			return err
		}},
		"partitions": {set: func(d *Delivery, _, v string) error {
			n, err := parseCount(v, 1, 1024)
			d.Partitions = n
			return err
		}},
		"concurrency": {set: func(d *Delivery, _, v string) error {
			n, err := parseCount(v, 1, 4096)
			d.Concurrency = n
			return err
		}},
		"fsync": {set: func(d *Delivery, _, v string) error {
			b, err := parseBool(v)
			d.Fsync = b
			return err
		}},
		"memory": {set: func(d *Delivery, _, v string) error {
			b, err := parseBool(v)
			d.Memory = b
			return err
		}},
		"admin_listen": {set: func(d *Delivery, _, v string) error {
			if err := checkHostPort(v); err != nil && !strings.HasSuffix(v, ":0") {
				return err
			}
			d.AdminListen = v
			return nil
		}},
		"admin_token": {set: func(d *Delivery, _, v string) error {
			if len(v) < 16 {
				return fmt.Errorf("token too short (%d characters, want at least 16)", len(v))
			}
			d.AdminToken = Secret(v)
			return nil
		}},
		"breaker_failures": {set: func(d *Delivery, _, v string) error {
			n, err := parseCount(v, 1, 1000)
			d.BreakerFailures = n
			return err
		}},
		"breaker_cooldown": {set: func(d *Delivery, _, v string) error {
			x, err := parseDuration(v)
			d.BreakerCooldown = x
			return err
		}},
		"log_max_age": {set: func(d *Delivery, _, v string) error {
			x, err := parseDuration(v)
			d.LogMaxAge = x
			return err
		}},
	}
	maps.Copy(m, retryFields(func(d *Delivery) *Retry { return &d.Retry }))
	return m
}()

func init() {
	maps.Copy(webhookFields, retryFields(func(w *Webhook) *Retry { return &w.Retry }))
	webhookFields["allow_private"] = field[Webhook]{set: func(w *Webhook, _, v string) error {
		b, err := parseBool(v)
		w.AllowPrivate = b
		return err
	}}
}

func checkDelivery(sec *iniSection, ps *problems) Delivery {
	d := Delivery{Line: sec.line}
	seen := applyFields(sec, deliveryFields, &d, ps)
	if _, ok := seen["admin_listen"]; ok && d.AdminToken == "" {
		ps.add(seen["admin_listen"], sec.name, "admin_token", "missing (required with admin_listen: the admin API can replay webhooks)")
	}
	if d.Retry.Min > 0 && d.Retry.Max > 0 && d.Retry.Max < d.Retry.Min {
		ps.add(sec.line, sec.name, "retry_max", "%s is shorter than retry_min %s", d.Retry.Max, d.Retry.Min)
	}
	return d
}

// closest is the known key within two edits of key (a typo), "" when none
// is that close.
func closest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
