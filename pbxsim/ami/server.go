package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// Banner is the first line Asterisk 22 sends on every manager connection.
const Banner = "Asterisk Call Manager/11.0.0\r\n"

// Defaults, as Asterisk 22's manager.c and manager.conf have them where
// Asterisk has an equivalent.
const (
	// DefaultAuthTimeout is manager.conf's authtimeout: a connection that has
	// not logged in by then is closed without a word.
	DefaultAuthTimeout = 30 * time.Second
	// DefaultAuthFailureDelay is the second Asterisk sleeps before answering
	// a failed Login (manager.c action_login), to slow password guessing.
	DefaultAuthFailureDelay = time.Second
	// DefaultQueueLen bounds the packets (responses and events) waiting for
	// one session's writer. A client that falls this far behind is
	// disconnected, so PBXEvent never waits for a slow reader.
	DefaultQueueLen = 4096
)

// Errors of the server's life cycle.
var (
	// ErrServerClosed is returned by Start after Close or Shutdown.
	ErrServerClosed = errors.New("ami: server closed")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("ami: server already started")
)

// Action answers one manager action from a logged-in session. It returns the
// packets to send, in order; use Success, Error, ListStart and ListComplete to
// shape them as Asterisk does. It runs on the session's reader goroutine.
type Action func(req Message) []Message

// ChannelInfo is one live channel as CoreShowChannels lists it.
type ChannelInfo struct {
	Channel         pbx.Channel
	BridgeID        string    // "" when not bridged
	Application     string    // the dialplan application running, "Dial"
	ApplicationData string    // its arguments
	Created         time.Time // for Duration; zero renders ""
}

// ChannelLister gives the channels CoreShowChannels reports. The PBX
// implements it; it must be safe to call from any goroutine.
type ChannelLister interface {
	ShowChannels() []ChannelInfo
}

// Config configures a Server. The zero value of each field means its
// default; DefaultConfig gives Asterisk's own defaults.
type Config struct {
	Addr            string            // listen address; "127.0.0.1:0" if empty
	Users           map[string]string // username (matched case-insensitively) → secret
	TimestampEvents bool              // manager.conf timestampevents: a Timestamp header on events
	Logger          *slog.Logger      // discards if nil
	Now             func() time.Time  // time.Now if nil

	// Write is manager.conf's write option per user (matched
	// case-insensitively): the classes of the actions the user may run,
	// "system,call,...". A user not listed may run every action.
	Write map[string]string

	// AuthTimeout closes a connection that has not logged in (default
	// DefaultAuthTimeout; negative: never).
	AuthTimeout time.Duration
	// AuthFailureDelay is waited before answering a failed Login (0: none;
	// DefaultConfig sets DefaultAuthFailureDelay as Asterisk does).
	AuthFailureDelay time.Duration
	// QueueLen bounds each session's outgoing queue (default DefaultQueueLen).
	QueueLen int
	// Channels answers CoreShowChannels; nil lists the channels the
	// server's own events show live (see channelTable).
	Channels ChannelLister
	// Actions adds or overrides actions by name (case-insensitive). Login,
	// Logoff and Challenge cannot be overridden.
	Actions map[string]Action
}

// DefaultConfig is Asterisk 22's behaviour with the user admin/secret:
// timestamped events, 30 s authtimeout, 1 s delay after a failed login.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:0",
		Users:            map[string]string{"admin": "secret"},
		TimestampEvents:  true,
		AuthTimeout:      DefaultAuthTimeout,
		AuthFailureDelay: DefaultAuthFailureDelay,
		QueueLen:         DefaultQueueLen,
	}
}

// Server is pbxsim's Asterisk Manager Interface: it accepts AMI
// connections, runs their actions and broadcasts the PBX's events to every
// logged-in session that asked for them. It implements pbx.Observer.
type Server struct {
	cfg     Config
	log     *slog.Logger
	actions map[string]Action // lower-case name → handler

	mu       sync.Mutex
	ln       net.Listener
	started  time.Time
	closed   bool
	held     bool          // Hold: connections are refused until Release
	table    *channelTable // the live channels, from the events sent
	nextID   uint64
	sessions map[uint64]*session
	wg       sync.WaitGroup // accept loop and every session goroutine
	stop     func() bool    // detaches the Start context
}

// NewServer checks cfg and fills in its defaults.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.AuthFailureDelay < 0 {
		return nil, fmt.Errorf("check config: AuthFailureDelay %v is negative", cfg.AuthFailureDelay)
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.QueueLen < 0 {
		return nil, fmt.Errorf("check config: QueueLen %d is negative", cfg.QueueLen)
	}
	users := make(map[string]string, len(cfg.Users))
	for u, secret := range cfg.Users {
		if u == "" {
			return nil, errors.New("check config: empty username")
		}
		users[strings.ToLower(u)] = secret
	}
	cfg.Users = users
	write := make(map[string]string, len(cfg.Write))
	for u, classes := range cfg.Write {
		write[strings.ToLower(u)] = classes
	}
	cfg.Write = write
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "ami"),
		sessions: make(map[uint64]*session),
		table:    newChannelTable(),
	}
	s.actions = builtinActions(s)
	for name, a := range cfg.Actions {
		switch strings.ToLower(name) {
		case "login", "logoff", "challenge":
			return nil, fmt.Errorf("check config: action %q cannot be overridden", name)
		}
		if a == nil {
			return nil, fmt.Errorf("check config: action %q has no handler", name)
		}
		s.actions[strings.ToLower(name)] = a
	}
	return s, nil
}

// Start listens on cfg.Addr and returns once connections are accepted.
// Cancelling ctx later closes the server as Close does.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen ami %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.started = s.cfg.Now()
	s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	s.wg.Add(1)
	go s.acceptLoop(ln)
	s.log.Info("ami listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("ami accept failed", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		if s.held {
			// Held: as a PBX out of reach, the connection ends at once.
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.nextID++
		ss := newSession(s, s.nextID, conn)
		s.sessions[ss.id] = ss
		s.wg.Add(2)
		s.mu.Unlock()
		go ss.writeLoop()
		go ss.readLoop()
	}
}

// PBXEvent renders e once and queues it to every logged-in session whose
// event mask takes its class. It never blocks on a client: a session whose
// queue is full is disconnected instead. Sessions see events in the order of
// PBXEvent calls.
func (s *Server) PBXEvent(e pbx.Event) {
	if e.Time.IsZero() {
		e.Time = s.cfg.Now()
	}
	b := Render(e, s.cfg.TimestampEvents).Bytes()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table.observe(e)
	s.broadcastLocked(b, classOf(Privilege(e.Name)))
}

// broadcastLocked queues b to the sessions that take class; s.mu is held so
// that every session gets broadcasts in one order.
func (s *Server) broadcastLocked(b []byte, class int) {
	for _, ss := range s.sessions {
		if ss.wants(class, b) {
			ss.enqueue(b)
		}
	}
}

// DropSessions cuts every manager session as a network failure would,
// without a word, and keeps listening: clients reconnect, and events of the
// meantime are lost for them, as on a real PBX.
func (s *Server) DropSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.kill()
	}
}

// Hold drops every manager session and refuses new connections until
// Release, as a PBX out of reach for a while: calls go on meanwhile and
// their events are lost to the clients, as on a real PBX.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = true
	for _, ss := range s.sessions {
		ss.kill()
	}
}

// Release accepts connections again after Hold.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = false
}

// Close stops the listener and drops every session at once, then waits for
// their goroutines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	err := s.closeListenerLocked()
	for _, ss := range s.sessions {
		ss.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Shutdown stops accepting, sends every logged-in session the Shutdown event
// Asterisk sends when it stops, lets each session's writer drain its queue,
// and closes the connections. If ctx ends first it closes them at once, as
// Close does, and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	err := s.closeListenerLocked()
	m := Message{{"Event", "Shutdown"}, {"Privilege", Privilege("Shutdown")}}
	if s.cfg.TimestampEvents {
		m = append(m, Field{"Timestamp", Timestamp(s.cfg.Now())})
	}
	m = append(m, Field{"Shutdown", "Cleanly"}, Field{"Restart", "False"})
	s.broadcastLocked(m.Bytes(), classOf(Privilege("Shutdown")))
	for _, ss := range s.sessions {
		ss.finish()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		_ = s.Close()
		<-done
		return ctx.Err()
	}
}

func (s *Server) closeListenerLocked() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stop != nil {
		s.stop()
	}
	if s.ln == nil {
		return nil
	}
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close ami listener: %w", err)
	}
	return nil
}

func (s *Server) remove(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
}
