// Package esl is pbxsim's FreeSWITCH Event Socket (mod_event_socket) in
// inbound mode: a TCP server that authenticates clients with the
// event_socket.conf.xml password, streams the events they subscribe to
// ("event plain|json ...") and runs api/bgapi commands. It observes the
// PBX core (pbx.Event, shaped as Asterisk AMI events) and translates each
// call's events into the events a FreeSWITCH raises for the same call
// (translate.go), so the engine's FreeSWITCH connector can be tested
// against the same scenarios as its AMI connector.
//
// Framing follows src/mod/event_handlers/mod_event_socket/mod_event_socket.c:
// "Content-Type: auth/request" on connect, command/reply frames with a
// Reply-Text, api/response frames with a Content-Length body, events as
// text/event-plain (switch_event_serialize: URL-encoded header lines) or
// text/event-json (switch_event_serialize_json), and text/disconnect-notice
// before the server closes a connection.
package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// Defaults.
const (
	// DefaultPassword is event_socket.conf.xml's shipped password.
	DefaultPassword = "ClueCon"
	// DefaultQueueLen bounds the frames waiting for one client's writer
	// (mod_event_socket's MAX_QUEUE_LEN is 100000 events; a client that
	// falls this far behind is dropped).
	DefaultQueueLen = 8192
	// DefaultHostname is the FreeSWITCH-Hostname of the simulated switch.
	DefaultHostname = "pbxsim"
)

// ErrServerClosed is returned by Start after Close.
var ErrServerClosed = errors.New("esl: server closed")

// Originator places a call for an originate command: the extension's
// phone calls number. The channel the call creates first takes id as its
// Unique-ID (origination_uuid).
type Originator func(ctx context.Context, extension, number, id string) error

// Hanger hangs up a channel by its AMI name (pbx.PBX.Hangup), for
// uuid_kill.
type Hanger func(channel string) error

// Config configures a Server.
type Config struct {
	Addr     string // listen address; "127.0.0.1:0" if empty
	Password string // DefaultPassword if empty
	Hostname string // DefaultHostname if empty
	// Domain is the SIP domain in channel names and variables; default
	// "127.0.0.1".
	Domain string
	// RecordingsDir is where RECORD_START says files are written; default
	// "/var/lib/freeswitch/recordings".
	RecordingsDir string
	Logger        *slog.Logger
	Now           func() time.Time // time.Now if nil
	QueueLen      int
	Originate     Originator // nil: originate answers -ERR
	Hangup        Hanger     // nil: uuid_kill answers -ERR
}

// Server is the simulated event socket. It implements pbx.Observer.
type Server struct {
	cfg  Config
	log  *slog.Logger
	core string // Core-UUID

	mu       sync.Mutex // orders translation and broadcast
	tr       *translator
	ln       net.Listener
	closed   bool
	held     bool
	nextID   uint64
	sessions map[uint64]*session
	wg       sync.WaitGroup
	stop     func() bool
	seq      uint64 // Event-Sequence
}

// NewServer fills cfg's defaults.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.Hostname == "" {
		cfg.Hostname = DefaultHostname
	}
	if cfg.Domain == "" {
		cfg.Domain = "127.0.0.1"
	}
	if cfg.RecordingsDir == "" {
		cfg.RecordingsDir = "/var/lib/freeswitch/recordings"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.QueueLen < 0 {
		return nil, fmt.Errorf("check esl config: QueueLen %d is negative", cfg.QueueLen)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "esl"), core: uuid.NewString(), sessions: map[uint64]*session{}}
	s.tr = newTranslator(cfg.Domain, cfg.RecordingsDir)
	return s, nil
}

// Start listens and returns once connections are accepted. Cancelling ctx
// later closes the server.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return errors.New("esl: server already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen esl %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
	s.wg.Add(1)
	go s.acceptLoop(ln)
	s.log.Info("esl listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the listening address ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Password is the password clients authenticate with.
func (s *Server) Password() string { return s.cfg.Password }

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
				s.log.Warn("esl accept failed", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed || s.held {
			// Held: as a switch that is down, the connection ends at once.
			s.mu.Unlock()
			_ = conn.Close()
			if s.isClosed() {
				return
			}
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

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// PBXEvent translates one PBX event into the FreeSWITCH events it stands
// for and queues them to every subscribed client. It never blocks on a
// client.
func (s *Server) PBXEvent(e pbx.Event) {
	if e.Time.IsZero() {
		e.Time = s.cfg.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fe := range s.tr.translate(e) {
		s.fireLocked(fe, e.Time)
	}
}

// Fire raises an event built outside the translator (BACKGROUND_JOB,
// sendevent) as switch_event_fire does.
func (s *Server) Fire(e *Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fireLocked(e, s.cfg.Now())
}

// fireLocked adds switch_event_prep_for_delivery's headers and
// broadcasts; s.mu held so every client sees one order.
func (s *Server) fireLocked(e *Event, at time.Time) {
	s.seq++
	s.prep(e, at, s.seq)
	var plain, js []byte
	for _, ss := range s.sessions {
		if !ss.wants(e) {
			continue
		}
		if ss.format == "json" {
			if js == nil {
				js = frame("json", e.JSON())
			}
			ss.enqueue(js)
		} else {
			if plain == nil {
				plain = frame("plain", e.Plain())
			}
			ss.enqueue(plain)
		}
	}
}

// prep inserts, after the event's own first headers (Event-Name first),
// the headers switch_event_prep_for_delivery_detailed adds, in its order.
func (s *Server) prep(e *Event, at time.Time, seq uint64) {
	name := e.Get("Event-Name")
	var rest []Header
	for _, h := range e.Headers {
		if h.Name != "Event-Name" {
			rest = append(rest, h)
		}
	}
	head := []Header{{"Event-Name", name}}
	if sub := e.Get("Event-Subclass"); sub != "" {
		// switch_event_create_subclass puts Event-Subclass first.
		head = []Header{{"Event-Subclass", sub}, {"Event-Name", name}}
		var r2 []Header
		for _, h := range rest {
			if h.Name != "Event-Subclass" {
				r2 = append(r2, h)
			}
		}
		rest = r2
	}
	head = append(head,
		Header{"Core-UUID", s.core},
		Header{"FreeSWITCH-Hostname", s.cfg.Hostname},
		Header{"FreeSWITCH-Switchname", s.cfg.Hostname},
		Header{"FreeSWITCH-IPv4", s.cfg.Domain},
		Header{"FreeSWITCH-IPv6", "::1"},
		Header{"Event-Date-Local", at.Format("2006-01-02 15:04:05")},
		Header{"Event-Date-GMT", at.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")},
		Header{"Event-Date-Timestamp", fmt.Sprintf("%d", at.UnixMicro())},
		Header{"Event-Calling-File", callingFile(name)},
		Header{"Event-Calling-Function", "pbxsim"},
		Header{"Event-Calling-Line-Number", "0"},
		Header{"Event-Sequence", fmt.Sprintf("%d", seq)},
	)
	e.Headers = append(head, rest...)
}

// callingFile names the FreeSWITCH source file that fires an event, for
// Event-Calling-File.
func callingFile(name string) string {
	switch name {
	case "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE":
		return "switch_ivr_bridge.c"
	case "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_HANGUP_COMPLETE":
		return "switch_core_state_machine.c"
	case "CHANNEL_OUTGOING":
		return "switch_core_session.c"
	case "RECORD_START", "RECORD_STOP":
		return "switch_ivr_async.c"
	case "BACKGROUND_JOB":
		return "mod_event_socket.c"
	case "CUSTOM":
		return "mod_sofia.c"
	}
	return "switch_channel.c"
}

// Flush emits what the translator holds back for want of the next event
// (a channel whose dial has not been announced): after it, every PBX event
// so far has reached the clients.
func (s *Server) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for _, fe := range s.tr.flush() {
		s.fireLocked(fe, now)
	}
}

// DropSessions cuts every client connection without a word, as a network
// failure would; the server keeps listening.
func (s *Server) DropSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.kill()
	}
}

// Hold drops every client and refuses new connections until Release,
// as a switch that is unreachable for a while: calls go on meanwhile and
// their events are lost to the clients, as on a real switch.
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

// Close stops listening, drops every client and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		if s.stop != nil {
			s.stop()
		}
		if s.ln != nil {
			if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
				err = fmt.Errorf("close esl listener: %w", cerr)
			}
		}
	}
	for _, ss := range s.sessions {
		ss.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) remove(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
}
