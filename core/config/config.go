// Package config reads the .ini file the engine runs from: one [pbx] section
// naming the live PBX interface to connect to, and one [webhook.NAME] section
// per receiver.
//
// A file is checked completely before Load or Parse fails, and every problem
// is reported with its file and line (see Error), because an operator editing
// a service's config should fix it in one pass rather than one restart per
// mistake.
//
// The minimal file the engine accepts:
//
//	[pbx]
//	type     = ami
//	address  = 127.0.0.1:5038
//	username = admin
//	secret   = secret
//
//	[webhook.crm]
//	url     = http://127.0.0.1:9000/hook
//	dialect = 3cx
package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultWebhookTimeout bounds one delivery attempt when a webhook sets no timeout.
const DefaultWebhookTimeout = 10 * time.Second

// Config is a checked configuration file.
type Config struct {
	File     string // the name the file was read under, as used in problems
	PBX      PBX
	Delivery Delivery  // [delivery], optional
	API      API       // [api], optional: the autodial API
	Webhooks []Webhook // in file order
	// Extensions is the directory of [extension.NUM] sections, by number.
	Extensions map[string]Extension

	Recordings Recordings // [recordings], optional
	Log        Log        // [log], optional: format and level
}

// PBX says which live PBX interface the engine connects to.
type PBX struct {
	Type string // a registered connector's [pbx] type (core/connector)
	// Options are the connector's own keys (address, username, ...) as
	// set, Secrets its secret ones; Lines the line of each.
	Options map[string]string
	Secrets map[string]Secret
	Lines   map[string]int
	// Timezone is the PBX's wall clock, used where a dialect prints local
	// time (the 3CX call id's yyMMddHHmmss). Key timezone; default Local.
	Timezone *time.Location
	Line     int // line of the [pbx] header
}

// Address is the [pbx] address key: where the PBX's interface listens.
func (p PBX) Address() string { return p.Options["address"] }

// Webhook is one receiver and how it wants its webhooks.
type Webhook struct {
	Name    string   // NAME of [webhook.NAME]
	URL     *url.URL // absolute http or https URL
	Dialect string   // a registered dialect's name (core/dialect)
	// Options are the dialect's own keys (profile, format, events,
	// pbx_number, …: see the dialect) as set; OptionLines the line of
	// each.
	Options     map[string]string
	OptionLines map[string]int

	Username      string // HTTP basic auth, with Password
	Password      Secret
	SigningSecret Secret // signs each request (Standard Webhooks HMAC)
	// SigningSecretPrevious (key signing_secret_previous) also signs each
	// request while receivers switch to SigningSecret: both signatures are
	// sent, so either secret verifies.
	SigningSecretPrevious Secret

	// AllowPrivate lets the receiver be on a private, loopback or
	// link-local address (key allow_private); refused otherwise. A URL
	// written with a loopback address (127.0.0.1, ::1, localhost) is
	// allowed unless the key says false.
	AllowPrivate bool
	// Retry overrides [delivery]'s schedule (keys retry_attempts,
	// retry_min, retry_max); zero fields inherit it.
	Retry Retry

	Timeout time.Duration     // per attempt; DefaultWebhookTimeout when unset
	Headers map[string]string // extra request headers (keys header.NAME), canonical names
	Line    int               // line of the section header
}

// Option returns a dialect key's value, "" when unset.
func (w Webhook) Option(key string) string { return w.Options[key] }

// Retry is a retry schedule: Attempts in all (the first included), waits
// growing from Min, doubling, capped at Max, with jitter. Zero fields take
// the default.
type Retry struct {
	Attempts int
	Min, Max time.Duration
}

// Delivery is the optional [delivery] section: where the durable outbox
// lives, the admin API, and the default retry schedule.
type Delivery struct {
	// Dir holds the embedded outbox's files (key dir). Load defaults it to
	// callhook-data beside the config file; relative paths are taken from
	// the config file's directory.
	Dir string
	// NATSURL names an existing NATS JetStream cluster to share the outbox
	// with other engine nodes (key nats_url); empty runs NATS embedded.
	NATSURL    string
	Node       string // this node's name among several (key node); default the host name
	Replicas   int    // stream replicas on a cluster (key replicas)
	Partitions int    // outbox partitions (key partitions); every node must agree
	Fsync      bool   // fsync every outbox write (key fsync): survives power loss too
	// Memory keeps the outbox in memory (key memory): no durability.
	Memory      bool
	Concurrency int // requests in flight per receiver (key concurrency)

	AdminListen string // host:port of the admin API and /metrics (key admin_listen)
	AdminToken  Secret // bearer token the admin API requires (key admin_token)

	Retry           Retry
	BreakerFailures int           // failed attempts in a row that open a receiver's circuit
	BreakerCooldown time.Duration // how long it stays open
	LogMaxAge       time.Duration // how long the attempt log is kept

	Line int // line of the [delivery] header, 0 when absent
}

// Secret is a password or key from the config. Its String, GoString,
// MarshalText and LogValue redact it, so printing a Config or logging a
// Webhook never leaks credentials; Reveal gives the value to the code that
// uses it.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String redacts a non-empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON, YAML and similar encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var _ slog.LogValuer = Secret("")

// Load reads and checks the file at path. Problems in the content come back
// as *Error (matching ErrInvalid), each naming path and line.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	cfg, err := Parse(path, f)
	if err != nil {
		return nil, err
	}
	resolveRecordings(cfg, path)
	d := &cfg.Delivery
	if !d.Memory && d.NATSURL == "" {
		if d.Dir == "" {
			d.Dir = "callhook-data"
		}
		if !filepath.IsAbs(d.Dir) {
			d.Dir = filepath.Join(filepath.Dir(path), d.Dir)
		}
	}
	return cfg, nil
}

// Parse reads and checks a configuration; name is used as the file name in
// problems. It returns an *Error listing every problem found, or the Config.
func Parse(name string, r io.Reader) (*Config, error) {
	ini, err := parseINI(name, r)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	ps := &problems{file: name, list: ini.problems}
	cfg := &Config{File: name}

	var pbxSeen bool
	var deliveryLine, apiLine int
	webhookLines := map[string]int{}
	var pbxLine int
	for _, sec := range ini.sections {
		lower := strings.ToLower(sec.name)
		switch {
		case lower == "pbx":
			if pbxSeen {
				ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", pbxLine)
				continue
			}
			pbxSeen, pbxLine = true, sec.line
			cfg.PBX = checkPBX(sec, ps)
		case lower == "delivery":
			if deliveryLine != 0 {
				ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", deliveryLine)
				continue
			}
			deliveryLine = sec.line
			cfg.Delivery = checkDelivery(sec, ps)
		case lower == "api":
			if apiLine != 0 {
				ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", apiLine)
				continue
			}
			apiLine = sec.line
			cfg.API = checkAPI(sec, ps)
		case strings.HasPrefix(lower, webhookPrefix):
			name := sec.name[len(webhookPrefix):]
			if first, dup := webhookLines[name]; dup {
				ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", first)
				continue
			}
			webhookLines[name] = sec.line
			if err := checkWebhookName(name); err != nil {
				ps.add(sec.line, sec.name, "", "%v", err)
				continue
			}
			cfg.Webhooks = append(cfg.Webhooks, checkWebhook(name, sec, ps))
		case lower == "recordings":
			checkRecordings(cfg, sec, ps)
		case strings.HasPrefix(lower, extensionPrefix):
			checkExtension(cfg, sec, ps)
		case lower == "log":
			checkLog(cfg, sec, ps)
		default:
			ps.add(sec.line, sec.name, "", "unknown section (want [pbx], [webhook.NAME], [delivery], [recordings], [api], [log] or [extension.NUM])")
		}
	}
	if !pbxSeen {
		ps.add(0, "pbx", "", "missing section: the engine needs a PBX to connect to")
	}
	if len(webhookLines) == 0 {
		ps.add(0, "", "", "no [webhook.NAME] section: at least one receiver is needed")
	}
	checkRecordingWebhooks(cfg, ps)
	checkRenderers(cfg, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

const webhookPrefix = "webhook."

// checkWebhookName keeps names printable and usable as labels and file names.
func checkWebhookName(name string) error {
	if name == "" {
		return fmt.Errorf("missing webhook name (want [webhook.NAME])")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("webhook name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}
