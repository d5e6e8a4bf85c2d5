// Package ami is callhook's connector for the Asterisk Manager Interface: a
// TCP client that logs in to an Asterisk (or anything speaking AMI, such as
// pbxsim), reads its event stream and translates the events into
// signal.Signals. It holds no call logic; the call model does.
//
// The wire protocol is described in Asterisk's AMI documentation ("Asterisk
// Manager Interface (AMI)", docs.asterisk.org): a banner line, then packets
// of CRLF-terminated "Key: Value" lines ended by a blank line. Actions carry
// an ActionID that the PBX copies into their response.
//
// Robustness choices: lines may end in CRLF or bare LF and packets may be
// split across reads in any way. A packet with a line that is not
// "Key: Value" is skipped with a warning naming the line, and the session
// goes on; a line or packet beyond the framing limits ends the session (the
// stream cannot be resynchronised), as do a read error and an unanswered
// keep-alive Ping. A lost session is re-established with backoff; wrong
// credentials and a peer that is not AMI stop Run instead.
package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// Errors of the AMI connector.
var (
	// ErrAuth: the PBX answered Login with "Response: Error" (Asterisk says
	// "Authentication failed"). Permanent: Run stops rather than retry with
	// the same credentials.
	ErrAuth = errors.New("ami: authentication failed")
	// ErrNotAMI: the peer's first line is not an AMI banner
	// ("Asterisk Call Manager/x.y.z"). Permanent: the address is wrong.
	ErrNotAMI = errors.New("ami: peer is not an AMI server")
	// ErrConfig: New was given an unusable Config.
	ErrConfig = errors.New("ami: invalid config")
	// ErrRunning: Run was called while another Run of the same Connector
	// was still going.
	ErrRunning = errors.New("ami: connector already running")
	// ErrNotConnected: Action was called without a logged-in session.
	ErrNotConnected = errors.New("ami: not connected")
	// ErrSessionLost: the session ended while an action waited for its
	// response.
	ErrSessionLost = errors.New("ami: session lost")
	// ErrPingTimeout: a keep-alive Ping got no response within KeepAlive,
	// so the connection is taken as lost.
	ErrPingTimeout = errors.New("ami: ping not answered")
	// ErrBacklog: the handler fell so far behind that the signals waiting
	// for it hit the limit; the session is dropped and re-established.
	ErrBacklog = errors.New("ami: signal backlog full")
	// ErrMalformed: a line of a packet is not "Key: Value" (see
	// MalformedError). Only that packet is skipped.
	ErrMalformed = errors.New("ami: malformed line")
	// ErrTooLarge: a line or packet exceeds the framing limits; the session
	// is dropped since the stream cannot be resynchronised.
	ErrTooLarge = errors.New("ami: line or packet too large")
	// ErrInvalidField: an action's name or field would break the framing
	// (a line break, an empty key) or sets a field the connector owns.
	ErrInvalidField = errors.New("ami: invalid field")
	// ErrActionFailed: the PBX answered an action with "Response: Error"
	// (see ActionError).
	ErrActionFailed = errors.New("ami: action failed")
)

// Config defaults.
const (
	DefaultKeepAlive   = 20 * time.Second
	DefaultDialTimeout = 5 * time.Second
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
)

// Secret is a password that never shows in logs or formatted output. Use
// string(s) to get the value itself.
type Secret = connector.Secret

// Config says where the AMI is and how to keep the session up. Zero
// durations take the defaults.
type Config struct {
	Addr     string // host:port of the AMI, e.g. "127.0.0.1:5038"
	Username string // manager.conf user
	Secret   Secret
	// KeepAlive is the interval of the Ping action. A Ping not answered
	// within KeepAlive, or a write not done within it, counts as a lost
	// connection. Default 20s.
	KeepAlive time.Duration
	// DialTimeout bounds the TCP connect and, separately, the banner and
	// Login exchange. Default 5s.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential, jittered wait
	// between connection attempts. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Location is the zone of the signals' times. Asterisk's Timestamp is
	// epoch-based, so it only changes how the times print. Default
	// time.Local.
	Location *time.Location
	// Logger receives the connector's logs. Default: discarded.
	Logger *slog.Logger
	// MonitorDir is where the PBX writes recordings named relatively
	// (MixMonitor's argument); default DefaultMonitorDir.
	MonitorDir string
	// CallbackKey is the key a caller waiting in a queue presses to order
	// a callback; default DefaultCallbackKey.
	CallbackKey string
	// NoEventFilter keeps the connector from asking the PBX to send only
	// the events it reads (EventFilters): the PBX then sends every event
	// of the user's read classes, and the connector drops the rest itself.
	NoEventFilter bool
}

// LogValue logs the configuration without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("username", c.Username),
		slog.Duration("keepalive", c.KeepAlive),
		slog.Duration("dial_timeout", c.DialTimeout),
		slog.Duration("min_backoff", c.MinBackoff),
		slog.Duration("max_backoff", c.MaxBackoff),
		slog.Bool("event_filter", !c.NoEventFilter),
	)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate returns every problem of c at once, each naming its field.
func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...)))
	}
	if c.Addr == "" {
		bad("Addr", "empty, want host:port")
	} else if host, port, err := net.SplitHostPort(c.Addr); err != nil || host == "" || port == "" {
		bad("Addr", "%q is not host:port", c.Addr)
	}
	if c.Username == "" {
		bad("Username", "empty")
	} else if checkField(Field{Key: "Username", Value: c.Username}) != nil {
		bad("Username", "contains a line break")
	}
	if c.Secret == "" {
		bad("Secret", "empty")
	} else if checkField(Field{Key: "Secret", Value: string(c.Secret)}) != nil {
		bad("Secret", "contains a line break")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"KeepAlive", c.KeepAlive}, {"DialTimeout", c.DialTimeout}, {"MinBackoff", c.MinBackoff}, {"MaxBackoff", c.MaxBackoff}} {
		if d.v < 0 {
			bad(d.name, "negative (%s)", d.v)
		}
	}
	if c.CallbackKey != "" {
		if err := CheckCallbackKey(c.CallbackKey); err != nil {
			bad("CallbackKey", "%v", err)
		}
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		bad("MinBackoff", "%s is above MaxBackoff %s", c.MinBackoff, c.MaxBackoff)
	}
	return errors.Join(errs...)
}

// Connector keeps one AMI session up and streams its signals. Create it with
// New; Run drives it, Action may be called from any goroutine meanwhile.
type Connector struct {
	cfg      Config
	log      *slog.Logger
	idPrefix string
	nextID   atomic.Uint64
	running  atomic.Bool
	cur      atomic.Pointer[session] // the logged-in session, nil between sessions
	files    *mixFiles               // recording files by channel, across sessions
	locals   *localPairs             // Local channel pairs, across sessions
	dials    *dialFanout             // what each channel's Dial rings, across sessions
	queued   *queueCallers           // callers waiting in a queue, across sessions
	view     *chanView               // the channels reported, across sessions (resync)
	// unfiltered: the PBX refused an event filter after accepting others;
	// later sessions go without (filter.go).
	unfiltered    atomic.Bool
	refusalLogged atomic.Bool // the PBX's refusal of filters was logged at Info
}

// New checks cfg, fills its defaults and returns a Connector. All problems
// of cfg are reported together, each wrapping ErrConfig.
func New(cfg Config) (*Connector, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new ami connector: %w", err)
	}
	cfg = cfg.withDefaults()
	return &Connector{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "ami", "addr", cfg.Addr),
		idPrefix: fmt.Sprintf("callhook-%08x-", rand.Uint32()),
		files:    newMixFiles(cfg.MonitorDir),
		locals:   newLocalPairs(),
		dials:    newDialFanout(),
		queued:   newQueueCallers(cfg.CallbackKey),
		view:     newChanView(),
	}, nil
}

// newActionID returns an ActionID unique to this connector's lifetime; the
// random prefix keeps it apart from other clients of the same PBX.
func (c *Connector) newActionID() string {
	return c.idPrefix + strconv.FormatUint(c.nextID.Add(1), 10)
}

// Run connects, logs in, sends signal.Connected and then hands h one signal
// per translated event, in stream order, each only after the previous call
// returned. When the connection is lost (read error, unanswered Ping, peer
// closing) the signals already read are still handed over, then
// signal.Disconnected with Err saying why; Run waits the backoff and connects
// again, forever. Failed connection attempts between sessions are only
// logged: Disconnected comes once per Connected.
//
// Run returns:
//   - nil once ctx is done (it sends Logoff and closes the connection first);
//   - an error wrapping ErrAuth if the PBX refuses the credentials, or
//     ErrNotAMI if the peer is not an AMI server: both are permanent, so Run
//     does not retry them;
//   - the error of h, wrapped with the signal's kind, if h returns one: the
//     signal was not handled and the caller (the engine) decides what next;
//   - ErrRunning if the Connector is already running.
func (c *Connector) Run(ctx context.Context, h signal.Handler) error {
	if h == nil {
		return errors.New("run ami connector: nil handler")
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)

	bo := connector.Backoff{Min: c.cfg.MinBackoff, Max: c.cfg.MaxBackoff}
	for {
		s, err := c.connect(ctx)
		switch {
		case ctx.Err() != nil:
			if s != nil {
				s.stop()
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
			c.log.Warn("ami session lost", "err", lost)
			if err := h.HandleSignal(ctx, signal.Signal{Kind: signal.Disconnected, Time: c.now(), Err: lost}); err != nil {
				return fmt.Errorf("handle %s signal: %w", signal.Disconnected, err)
			}
		case errors.Is(err, ErrAuth), errors.Is(err, ErrNotAMI):
			return err
		default:
			c.log.Warn("ami connect failed", "err", err)
		}
		if !connector.Sleep(ctx, bo.Next()) {
			return nil
		}
	}
}

// Action sends an action on the current session and waits for its response,
// matched by a fresh ActionID (responses may arrive between events, and in
// any order relative to other actions). Fields named Action or ActionID are
// rejected: the connector sets them. For list actions (QueueStatus, ...) the
// response's Events hold the list. A "Response: Error" comes back as the
// Response together with an *ActionError.
//
// Action fails with ErrNotConnected between sessions, with ErrSessionLost if
// the session ends first, and with ctx's error when ctx is done first. It is
// safe to call from the signal handler.
func (c *Connector) Action(ctx context.Context, action string, fields ...Field) (Response, error) {
	s := c.cur.Load()
	if s == nil {
		return Response{}, fmt.Errorf("action %s: %w", action, ErrNotConnected)
	}
	return s.action(ctx, action, fields...)
}

// serve runs one logged-in session until it is lost, ctx is done or h
// fails. It returns why the session was lost, or h's error.
func (c *Connector) serve(ctx context.Context, s *session, h signal.Handler) (lost, herr error) {
	s.start()
	c.cur.Store(s)
	defer func() {
		c.cur.CompareAndSwap(s, nil)
		s.stop()
	}()
	s.startResync()
	if err := h.HandleSignal(ctx, signal.Signal{Kind: signal.Connected, Time: c.now()}); err != nil {
		s.logoff()
		return nil, fmt.Errorf("handle %s signal: %w", signal.Connected, err)
	}
	err := s.queue.Handle(ctx, h, s.readDone)
	var he *backlog.HandlerError
	switch {
	case errors.As(err, &he):
		s.logoff()
		return nil, err
	case err != nil:
		s.logoff()
		return err, nil
	}
	return s.cause(), nil
}

func (c *Connector) now() time.Time { return time.Now().In(c.cfg.Location) }
