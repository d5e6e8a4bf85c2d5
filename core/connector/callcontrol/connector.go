// Package callcontrol is callhook's connector for 3CX v20: it follows the
// PBX through the Call Control API (an OAuth 2 token from /connect/token,
// the WebSocket event stream at /callcontrol/ws, the REST resources under
// /callcontrol) and reads extension and queue status from the
// configuration API (XAPI, /xapi/v1). It registers as [pbx] type 3cx.
// (core/dialect/threecx is a different thing: the payloads of 3CX's
// webhooks module.)
//
// 3CX's stream says only which entity changed ({"event": {"event_type":
// 0, "entity": "/callcontrol/101/participants/12"}}); the connector GETs
// it and reports how the participant differs from what it knew (see
// translator). After every (re)connection it GETs every DN's participants
// and reconciles, so a dropped connection costs neither duplicates nor
// phantoms. The mapping, with its sources, is docs/3cx-callcontrol.md.
package callcontrol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// Errors of the 3CX connector.
var (
	// ErrAuth: /connect/token refused the API client's id or secret
	// (RFC 6749 invalid_client). Permanent: Run stops.
	ErrAuth = errors.New("3cx: authentication failed")
	// ErrRights: the PBX answered 401 or 403 with a fresh token: the API
	// client lacks Call Control (or XAPI) access or the DN is not one it
	// may see.
	ErrRights = errors.New("3cx: access denied")
	// ErrMalformed: an answer or message that is not the JSON 3CX sends.
	ErrMalformed = errors.New("3cx: malformed")
	// ErrConfig: New was given an unusable Config.
	ErrConfig = errors.New("3cx: invalid config")
	// ErrRunning: Run was called while another Run was still going.
	ErrRunning = errors.New("3cx: connector already running")
	// ErrBacklog: the handler fell so far behind that the session was
	// dropped (and is re-established).
	ErrBacklog = errors.New("3cx: signal backlog full")
	// ErrUnsupported: an origination 3CX's MakeCall cannot place.
	ErrUnsupported = errors.New("3cx: not supported")
)

// Config defaults.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultKeepAlive      = 20 * time.Second
	DefaultStatusInterval = 5 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// Secret is a client secret that never shows in logs or formatted output.
type Secret = connector.Secret

// Config says which PBX and how to stay connected. Zero durations take
// the defaults.
type Config struct {
	// URL is the PBX's web address, e.g. https://pbx.example.com:5001.
	URL string
	// ClientID and ClientSecret are the API client's (3CX admin console,
	// Integrations > API: the client id is the route point's DN, the
	// secret the API key shown once).
	ClientID     string
	ClientSecret Secret
	// NoXAPI leaves out what the configuration API tells: forwarding,
	// queue log-in, extensions created and deleted, queue agents, and the
	// call log behind call records.
	NoXAPI bool
	// StatusInterval is how often XAPI is read between the moments the
	// event stream prompts it. Default 5s.
	StatusInterval time.Duration
	// RequestTimeout bounds each HTTP request. Default 10s.
	RequestTimeout time.Duration
	// KeepAlive is how often the event stream is pinged; nothing heard
	// for two of them counts as a lost connection. Default 20s.
	KeepAlive time.Duration
	// MinBackoff and MaxBackoff bound the jittered wait between
	// connection attempts. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient makes the requests (its transport the WebSocket's TLS
	// too); default a client of its own.
	HTTPClient *http.Client
	// Location is the zone of the signals' times. 3CX's events carry no
	// time: a signal's time is when the connector learnt of it.
	Location *time.Location
	// Now is the connector's clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// LogValue logs the configuration without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.String("client_id", c.ClientID), slog.Bool("xapi", !c.NoXAPI),
		slog.Duration("status_interval", c.StatusInterval))
}

func (c Config) withDefaults() Config {
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// checkURL is the url key's check: an absolute http(s) URL of the PBX.
func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("want the PBX's address, e.g. https://pbx.example.com, got %q", v)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// address, e.g. https://pbx.example.com, got %q", v)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("want the PBX's address without query or fragment, got %q", v)
	}
	return nil
}

func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...)))
	}
	if c.URL == "" {
		bad("URL", "empty, want the PBX's address")
	} else if err := checkURL(c.URL); err != nil {
		bad("URL", "%v", err)
	}
	if c.ClientID == "" {
		bad("ClientID", "empty")
	}
	if c.ClientSecret == "" {
		bad("ClientSecret", "empty")
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		bad("MinBackoff", "%s is above MaxBackoff %s", c.MinBackoff, c.MaxBackoff)
	}
	return errors.Join(errs...)
}

// Connector follows one 3CX PBX. Create it with New; Run drives it.
type Connector struct {
	cfg     Config
	log     *slog.Logger
	cl      *client
	running atomic.Bool

	// Owned by the running session's worker.
	tr      *translator
	types   map[string]string // DN types
	known   config            // configuration last read
	haveCfg bool
	noXAPI  bool
}

// New checks cfg (every problem at once, each wrapping ErrConfig) and
// returns a Connector.
func New(cfg Config) (*Connector, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new 3cx connector: %w", err)
	}
	cfg = cfg.withDefaults()
	base, _ := url.Parse(strings.TrimRight(cfg.URL, "/"))
	c := &Connector{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "3cx", "url", cfg.URL),
		cl:     &client{base: base, id: cfg.ClientID, secret: cfg.ClientSecret, http: cfg.HTTPClient, timeout: cfg.RequestTimeout},
		types:  map[string]string{},
		noXAPI: cfg.NoXAPI,
	}
	c.tr = newTranslator(func(dn string) string { return c.types[dn] }, func(ext string) string { return c.known.users[ext].name }, cfg.Now())
	return c, nil
}

func (c *Connector) now() time.Time { return c.cfg.Now().In(c.cfg.Location) }

// Run connects, sends signal.Connected, reconciles what it knew with every
// DN's participants and then reports the event stream, in order, each
// signal once the previous one was handled. A lost connection is
// reported (signal.Disconnected) and re-established with backoff. Run
// returns nil once ctx is done, an error wrapping ErrAuth when the PBX
// refuses the credentials, ErrRights when it refuses the Call Control
// API, the handler's error (wrapped with the signal's kind), or
// ErrRunning.
func (c *Connector) Run(ctx context.Context, h signal.Handler) error {
	if h == nil {
		return errors.New("run 3cx connector: nil handler")
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	bo := connector.Backoff{Min: c.cfg.MinBackoff, Max: c.cfg.MaxBackoff}
	for {
		s, err := c.dial(ctx)
		switch {
		case ctx.Err() != nil:
			if s != nil {
				s.close()
			}
			return nil
		case err == nil:
			bo.Reset()
			lost, herr := c.serve(ctx, s, h)
			if herr != nil {
				return herr
			}
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(lost, ErrAuth) || errors.Is(lost, ErrRights) {
				return lost
			}
			c.log.Warn("3cx session lost", "err", lost)
			if err := h.HandleSignal(ctx, signal.Signal{Kind: signal.Disconnected, Time: c.now(), Err: lost}); err != nil {
				return fmt.Errorf("handle %s signal: %w", signal.Disconnected, err)
			}
		case errors.Is(err, ErrAuth), errors.Is(err, ErrRights):
			return err
		default:
			c.log.Warn("3cx connect failed", "err", err)
		}
		if !connector.Sleep(ctx, bo.Next()) {
			return nil
		}
	}
}

// serve runs one session until it is lost, ctx is done or h fails.
func (c *Connector) serve(ctx context.Context, s *session, h signal.Handler) (lost, herr error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.start(wctx)
	defer s.close()
	if err := h.HandleSignal(ctx, signal.Signal{Kind: signal.Connected, Time: c.now()}); err != nil {
		return nil, fmt.Errorf("handle %s signal: %w", signal.Connected, err)
	}
	err := s.q.Handle(ctx, h, s.done)
	var he *backlog.HandlerError
	switch {
	case errors.As(err, &he):
		return nil, err
	case err != nil:
		return err, nil
	}
	return s.cause(), nil
}

// Originate starts a call with MakeCall: 3CX has the extension's device
// place a call to To (POST /callcontrol/{dn}/makecall, [cc-types]
// ExternalApiService.makeCall; timeout per [cc-docs]). 3CX picks the
// call's id, so o.ID is not honoured, and a call from an outside number
// cannot be made (MakeCall starts at a DN).
func (c *Connector) Originate(ctx context.Context, o connector.Origination) (connector.Started, error) {
	if o.FromIsNumber {
		return connector.Started{}, fmt.Errorf("originate from number %s: %w: 3CX's MakeCall starts at a DN", o.From, ErrUnsupported)
	}
	if o.From == "" || strings.ContainsAny(o.From, "/?#") {
		return connector.Started{}, fmt.Errorf("originate from %q: %w: want an extension", o.From, ErrConfig)
	}
	req := map[string]any{"destination": o.To}
	if o.RingTimeout > 0 {
		req["timeout"] = int(o.RingTimeout.Round(time.Second) / time.Second)
	}
	var res callControlResult
	if err := c.cl.do(ctx, http.MethodPost, "/callcontrol/"+url.PathEscape(o.From)+"/makecall", req, &res); err != nil {
		return connector.Started{}, fmt.Errorf("originate %s to %s: %w", o.From, o.To, err)
	}
	if res.FinalStatus != 1 {
		return connector.Started{}, fmt.Errorf("originate %s to %s: makecall %s: %s", o.From, o.To, res.Reason, res.ReasonText)
	}
	msg := "MakeCall succeeded"
	if res.Result != nil {
		msg = fmt.Sprintf("MakeCall succeeded: call %d, participant %d at %s", res.Result.CallID, res.Result.ID, res.Result.DN)
	}
	return connector.Started{Message: msg}, nil
}
