// Package esl is callhook's connector for FreeSWITCH's Event Socket
// (mod_event_socket) in inbound mode: a TCP client that authenticates
// with the event_socket.conf.xml password, subscribes to the events it
// needs, follows every channel and translates FreeSWITCH's events into
// signal.Signals. It holds no call logic; the call model does.
//
// The protocol is mod_event_socket's (src/mod/event_handlers/
// mod_event_socket/mod_event_socket.c in the FreeSWITCH source, and the
// "mod_event_socket" page of the FreeSWITCH documentation): on connect the
// switch sends "Content-Type: auth/request"; the client sends
// "auth PASSWORD" and gets a command/reply whose Reply-Text is
// "+OK accepted" or "-ERR invalid"; "event plain ..." subscribes; events
// arrive as text/event-plain frames (URL-encoded "Name: value" lines after
// a Content-Length header) or text/event-json; "api CMD" is answered by an
// api/response frame, "bgapi CMD" by a command/reply with a Job-UUID and,
// later, a BACKGROUND_JOB event; the switch announces a closing connection
// with text/disconnect-notice.
//
// Robustness: lines may end in LF or CRLF and frames may be split across
// reads in any way; a frame beyond the size limits, a malformed header
// line, a read error, a disconnect notice or an unanswered keep-alive ends
// the session, which is re-established with backoff and resynchronised
// (resync.go); a wrong password and an ACL rejection stop Run instead.
package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/connector/backlog"
	"github.com/callhook/callhook/core/signal"
)

// Errors of the event socket connector.
var (
	// ErrAuth: the switch answered auth with "-ERR invalid"
	// (mod_event_socket.c parse_command). Permanent.
	ErrAuth = errors.New("esl: authentication failed")
	// ErrDenied: the switch's apply-inbound-acl refused the connection
	// (text/rude-rejection "Access Denied, go away."). Permanent.
	ErrDenied = errors.New("esl: connection refused by the switch's ACL")
	// ErrNotESL: the peer's first frame is not "Content-Type: auth/request".
	// Permanent: the address is wrong.
	ErrNotESL = errors.New("esl: peer is not a FreeSWITCH event socket")
	// ErrConfig: New was given an unusable Config.
	ErrConfig = errors.New("esl: invalid config")
	// ErrRunning: Run was called while another Run was going.
	ErrRunning = errors.New("esl: connector already running")
	// ErrNotConnected: a command was sent without a session.
	ErrNotConnected = errors.New("esl: not connected")
	// ErrSessionLost: the session ended while a command waited.
	ErrSessionLost = errors.New("esl: session lost")
	// ErrPingTimeout: the keep-alive command got no answer in time.
	ErrPingTimeout = errors.New("esl: keep-alive not answered")
	// ErrBacklog: the handler fell too far behind.
	ErrBacklog = errors.New("esl: signal backlog full")
	// ErrMalformed: a frame or an event is not what the protocol says.
	ErrMalformed = errors.New("esl: malformed frame")
	// ErrTooLarge: a frame exceeds the framing limits.
	ErrTooLarge = errors.New("esl: frame too large")
	// ErrCommand: the switch answered a command with "-ERR ..."
	// (see CommandError).
	ErrCommand = errors.New("esl: command failed")
	// ErrInvalidCommand: a command would break the framing.
	ErrInvalidCommand = errors.New("esl: invalid command")
)

// CommandError is a "-ERR" answer to a command.
type CommandError struct {
	Command string
	Reply   string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("esl: %s: %s", e.Command, e.Reply)
}

// Unwrap makes errors.Is(err, ErrCommand) hold.
func (e *CommandError) Unwrap() error { return ErrCommand }

// Config defaults.
const (
	DefaultKeepAlive   = 20 * time.Second
	DefaultDialTimeout = 5 * time.Second
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
)

// Secret is a password that never shows in logs or formatted output.
type Secret = connector.Secret

// Config says where the event socket is. Zero durations take defaults.
type Config struct {
	Addr     string // host:port, event_socket.conf.xml listen-ip and listen-port
	Password Secret // event_socket.conf.xml password
	// Format is the event encoding asked for: "plain" (default) or
	// "json".
	Format string
	// KeepAlive is the interval of the keep-alive command (api
	// strmicroepoch); one not answered within it ends the session.
	KeepAlive   time.Duration
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered wait between attempts.
	MinBackoff, MaxBackoff time.Duration
	// Location is the zone of the signals' times. Default time.Local.
	Location *time.Location
	Logger   *slog.Logger
}

// LogValue logs the configuration without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", c.Addr), slog.String("format", c.Format),
		slog.Duration("keepalive", c.KeepAlive), slog.Duration("min_backoff", c.MinBackoff), slog.Duration("max_backoff", c.MaxBackoff))
}

func (c Config) withDefaults() Config {
	if c.Format == "" {
		c.Format = "plain"
	}
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
	if c.Password == "" {
		bad("Password", "empty")
	} else if strings.ContainsAny(string(c.Password), "\r\n") {
		bad("Password", "contains a line break")
	}
	if f := strings.ToLower(c.Format); f != "" && f != "plain" && f != "json" {
		bad("Format", "%q, want plain or json", c.Format)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"KeepAlive", c.KeepAlive}, {"DialTimeout", c.DialTimeout}, {"MinBackoff", c.MinBackoff}, {"MaxBackoff", c.MaxBackoff}} {
		if d.v < 0 {
			bad(d.name, "negative (%s)", d.v)
		}
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		bad("MinBackoff", "%s is above MaxBackoff %s", c.MinBackoff, c.MaxBackoff)
	}
	return errors.Join(errs...)
}

// Connector keeps one event socket session up and streams its signals.
type Connector struct {
	cfg     Config
	log     *slog.Logger
	running atomic.Bool
	cur     atomic.Pointer[session]
	// st follows every channel across sessions, so that a session
	// re-established after a loss reports only what changed (resync).
	mu sync.Mutex
	st *tracker
}

// New checks cfg, fills its defaults and returns a Connector.
func New(cfg Config) (*Connector, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new esl connector: %w", err)
	}
	cfg = cfg.withDefaults()
	cfg.Format = strings.ToLower(cfg.Format)
	return &Connector{
		cfg: cfg,
		log: cfg.Logger.With("component", "esl", "addr", cfg.Addr),
		st:  newTracker(cfg.Location, cfg.Logger),
	}, nil
}

// Run connects, authenticates, subscribes, sends signal.Connected, brings
// its view of the switch up to date (resync) and then hands h one signal
// at a time, in the switch's order. A lost session is announced with
// signal.Disconnected and re-established with backoff. Run returns nil
// once ctx is done, an error wrapping ErrAuth, ErrDenied or ErrNotESL for
// permanent failures, h's error wrapped with the signal's kind, or
// ErrRunning.
func (c *Connector) Run(ctx context.Context, h signal.Handler) error {
	if h == nil {
		return errors.New("run esl connector: nil handler")
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
			c.log.Warn("esl session lost", "err", lost)
			if err := h.HandleSignal(ctx, signal.Signal{Kind: signal.Disconnected, Time: c.now(), Err: lost}); err != nil {
				return fmt.Errorf("handle %s signal: %w", signal.Disconnected, err)
			}
		case errors.Is(err, ErrAuth), errors.Is(err, ErrDenied), errors.Is(err, ErrNotESL):
			return err
		default:
			c.log.Warn("esl connect failed", "err", err)
		}
		if !connector.Sleep(ctx, bo.Next()) {
			return nil
		}
	}
}

// serve runs one session until it is lost, ctx is done or h fails.
func (c *Connector) serve(ctx context.Context, s *session, h signal.Handler) (lost, herr error) {
	s.start()
	c.cur.Store(s)
	defer func() {
		c.cur.CompareAndSwap(s, nil)
		s.stop()
	}()
	if err := h.HandleSignal(ctx, signal.Signal{Kind: signal.Connected, Time: c.now()}); err != nil {
		s.exit()
		return nil, fmt.Errorf("handle %s signal: %w", signal.Connected, err)
	}
	s.startResync()
	err := s.queue.Handle(ctx, h, s.readDone)
	var he *backlog.HandlerError
	switch {
	case errors.As(err, &he):
		s.exit()
		return nil, err
	case err != nil:
		s.exit()
		return err, nil
	}
	return s.cause(), nil
}

func (c *Connector) now() time.Time { return time.Now().In(c.cfg.Location) }
