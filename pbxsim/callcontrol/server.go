// Package callcontrol is pbxsim's 3CX front-end: the PBX core's events,
// seen as 3CX v20 shows a PBX to an API client, served over HTTP and a
// WebSocket as 3CX serves them:
//
//	POST /connect/token                      OAuth 2 client credentials (form: client_id, client_secret, grant_type)
//	GET  /callcontrol                        every DN with its devices and participants
//	GET  /callcontrol/{dn}                   one DN
//	GET  /callcontrol/{dn}/participants      its participants
//	GET  /callcontrol/{dn}/participants/{id} one participant
//	GET  /callcontrol/{dn}/devices[/{id}]    its devices
//	POST /callcontrol/{dn}/makecall          the DN's device places a call ({"destination": ...})
//	POST /callcontrol/{dn}/devices/{id}/makecall
//	POST /callcontrol/{dn}/participants/{id}/drop
//	GET  /callcontrol/ws                     the event stream (upsert / remove of an entity path)
//	GET  /xapi/v1/Users, /xapi/v1/Queues     the configuration API's users and queues
//	GET  /xapi/v1/ReportCallLogData/Pbx.GetCallLogData(...)  the call log
//
// Sources of every name are in wire.go; docs/3cx-callcontrol.md maps the
// PBX's moments onto these entities. Everything listens on loopback over
// plain HTTP; 3CX itself serves HTTPS on its FQDN.
package callcontrol

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// Defaults.
const (
	DefaultClientID     = "900" // the API client's DN (its route point), as 3CX's Client ID is
	DefaultClientSecret = "secret"
	DefaultTokenTTL     = time.Hour
	DefaultTrunkDN      = "10000"
	// DefaultQueueLen bounds the messages waiting for one WebSocket
	// client; a client that falls this far behind is disconnected, so
	// the PBX never waits for a slow reader.
	DefaultQueueLen = 4096
	// DefaultMinVisible is how long a participant stays readable at least.
	// pbxsim's calls change faster than any PBX on a network (a carrier
	// refuses a call the instant it is offered), and a Call Control client
	// learns a participant only by GETting it after the event naming it:
	// each participant is shown at least this long before it goes, and
	// what the PBX does meanwhile is shown after.
	DefaultMinVisible = 250 * time.Millisecond
)

// Config says how to serve. Topology is the PBX's (the DNs).
type Config struct {
	Addr                   string // "127.0.0.1:0" if empty
	ClientID, ClientSecret string
	TokenTTL               time.Duration
	Topology               pbx.Config
	TrunkDN                string
	// MinVisible is how long a participant stays readable at least
	// (DefaultMinVisible; negative: no minimum).
	MinVisible time.Duration
	// MakeCall has ext's device call destination (the MakeCall action).
	MakeCall func(ctx context.Context, ext, destination string) error
	// Hangup hangs up a channel of a call in conversation (the drop
	// action).
	Hangup func(channel string) error
	Now    func() time.Time
	Logger *slog.Logger
}

// Server serves one simulated PBX. It implements pbx.Observer.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	w        *world
	x        *xapiState
	tokens   map[string]time.Time
	sessions map[*wsSession]bool
	accepted int // WebSocket sessions ever opened
	seq      int
	changed  chan struct{} // closed and replaced on every event
	// The PBX's events wait here for the worker that applies them, so
	// that a participant's minimum visibility never blocks the PBX.
	qmu     sync.Mutex
	queue   []item
	more    chan struct{}
	stopped chan struct{}
	ln      net.Listener
	srv     *http.Server
	closed  bool
	// writeTimeout bounds one frame's write to a client.
	writeTimeout time.Duration
}

// New builds a server; Start serves it.
func New(cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = DefaultClientID, DefaultClientSecret
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TrunkDN == "" {
		cfg.TrunkDN = DefaultTrunkDN
	}
	if cfg.MinVisible == 0 {
		cfg.MinVisible = DefaultMinVisible
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "3cx"), tokens: map[string]time.Time{},
		sessions: map[*wsSession]bool{}, changed: make(chan struct{}), more: make(chan struct{}, 1), stopped: make(chan struct{}),
		writeTimeout: 10 * time.Second}
	s.x = newXAPI(cfg.Topology)
	s.w = newWorld(cfg.Topology, cfg.TrunkDN, cfg.Now, s.x)
	s.w.emit = s.broadcastLocked
	s.w.hold = s.holdLocked
	go s.work()
	s.w.addDN(cfg.ClientID, TypeRoutePoint, "callhook")
	return s
}

// Start listens and serves until Close or ctx's end.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen 3cx %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Unlock()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("3cx serve", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { _ = s.Close() })
	s.log.Info("3cx call control listening", "addr", ln.Addr().String())
	return nil
}

// Addr is where the server listens.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the server's base URL, what a [pbx] section's url names.
func (s *Server) URL() string { return "http://" + s.Addr() }

func (s *Server) base() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// ClientID and ClientSecret are the API client's credentials.
func (s *Server) ClientID() string     { return s.cfg.ClientID }
func (s *Server) ClientSecret() string { return s.cfg.ClientSecret }

// Close stops serving and drops every WebSocket.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.srv
	for ss := range s.sessions {
		ss.kill()
	}
	s.mu.Unlock()
	close(s.stopped)
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

// item is one PBX event, or a barrier token.
type item struct {
	ev      pbx.Event
	barrier string
}

// PBXEvent queues one PBX event; it never blocks.
func (s *Server) PBXEvent(e pbx.Event) { s.put(item{ev: e}) }

func (s *Server) put(it item) {
	s.qmu.Lock()
	s.queue = append(s.queue, it)
	s.qmu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
}

// work applies the queued events in order.
func (s *Server) work() {
	for {
		s.qmu.Lock()
		var it item
		ok := len(s.queue) > 0
		if ok {
			it = s.queue[0]
			s.queue[0] = item{}
			s.queue = s.queue[1:]
		}
		s.qmu.Unlock()
		if !ok {
			select {
			case <-s.more:
				continue
			case <-s.stopped:
				return
			}
		}
		s.mu.Lock()
		if it.barrier != "" {
			s.seq++
			s.sendLocked(WSMessage{Sequence: s.seq, Event: WSEvent{EventType: EventResponse, Entity: "/callcontrol/ws",
				AttachedData: &WSResponse{RequestID: "callhook-sync:" + it.barrier, StatusCode: http.StatusOK}}})
		} else {
			s.w.observe(it.ev)
		}
		s.mu.Unlock()
	}
}

// holdLocked waits, with the lock released, until a participant shown
// since created has been readable for MinVisible.
func (s *Server) holdLocked(created time.Time) {
	d := s.cfg.MinVisible - time.Since(created)
	if d <= 0 {
		return
	}
	s.mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-s.stopped:
		t.Stop()
	}
	s.mu.Lock()
}

// DropSessions cuts every WebSocket as a network failure would; clients
// reconnect, and what happened meanwhile they learn by GETting it.
func (s *Server) DropSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.kill()
	}
}

// Accepted counts the WebSocket sessions opened so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Barrier sends every WebSocket client a Response event for request
// "callhook-sync:<token>", after everything before it: pbxsim's sync
// barrier, as if each client had asked (3CX answers requests sent on the
// socket with such events; a real PBX answers only the asker).
func (s *Server) Barrier(token string) { s.put(item{barrier: token}) }

// broadcastLocked numbers and sends one entity event.
func (s *Server) broadcastLocked(eventType int, entity string) {
	s.seq++
	s.sendLocked(WSMessage{Sequence: s.seq, Event: WSEvent{EventType: eventType, Entity: entity}})
}

func (s *Server) sendLocked(m WSMessage) {
	b, _ := json.Marshal(m)
	for ss := range s.sessions {
		ss.enqueue(b)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", s.token)
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !s.authorized(r) {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /callcontrol", auth(s.getAll))
	mux.HandleFunc("GET /callcontrol/ws", auth(s.serveWS))
	mux.HandleFunc("GET /callcontrol/{dn}", auth(s.getDN))
	mux.HandleFunc("GET /callcontrol/{dn}/participants", auth(s.getParticipants))
	mux.HandleFunc("GET /callcontrol/{dn}/participants/{id}", auth(s.getParticipant))
	mux.HandleFunc("GET /callcontrol/{dn}/devices", auth(s.getDevices))
	mux.HandleFunc("GET /callcontrol/{dn}/devices/{device}", auth(s.getDevice))
	mux.HandleFunc("POST /callcontrol/{dn}/makecall", auth(s.makeCall))
	mux.HandleFunc("POST /callcontrol/{dn}/devices/{device}/makecall", auth(s.makeCall))
	mux.HandleFunc("POST /callcontrol/{dn}/participants/{id}/{action}", auth(s.participantAction))
	mux.HandleFunc("GET /xapi/v1/Users", auth(s.xapiUsers))
	mux.HandleFunc("GET /xapi/v1/Queues", auth(s.xapiQueues))
	mux.HandleFunc("GET /xapi/v1/ReportCallLogData/{fn}", auth(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.PathValue("fn"), "Pbx.GetCallLogData(") {
			http.NotFound(w, r)
			return
		}
		s.xapiCallLog(w, r)
	}))
	return mux
}

// token implements the client credentials grant (RFC 6749 §4.4) as 3CX's
// /connect/token does; errors are RFC 6749 §5.2's.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	var err error
	if strings.HasPrefix(ct, "multipart/form-data") {
		err = r.ParseMultipartForm(1 << 16)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	if g := r.FormValue("grant_type"); g != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "grant_type " + g})
		return
	}
	if r.FormValue("client_id") != s.cfg.ClientID || r.FormValue("client_secret") != s.cfg.ClientSecret {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client"})
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	now := time.Now()
	for t, exp := range s.tokens {
		if now.After(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(s.cfg.TokenTTL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, Token{TokenType: "Bearer", ExpiresIn: int(s.cfg.TokenTTL.Seconds()), AccessToken: tok})
}

func (s *Server) authorized(r *http.Request) bool {
	tok := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

// ExpireTokens makes every token issued so far invalid, as their expiry
// would: clients must fetch a new one.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

func (s *Server) getAll(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := s.w.all()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getDN(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	info, ok := s.w.dnInfo(r.PathValue("dn"))
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) getParticipants(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	info, ok := s.w.dnInfo(r.PathValue("dn"))
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, info.Participants)
}

func (s *Server) lookup(r *http.Request) (*part, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return nil, false
	}
	return s.w.participant(r.PathValue("dn"), id)
}

func (s *Server) getParticipant(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.lookup(r)
	var out Participant
	if ok {
		out = p.Participant
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getDevices(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	info, ok := s.w.dnInfo(r.PathValue("dn"))
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, info.Devices)
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	info, ok := s.w.dnInfo(r.PathValue("dn"))
	s.mu.Unlock()
	if ok {
		for _, d := range info.Devices {
			if d.DeviceID == r.PathValue("device") {
				writeJSON(w, http.StatusOK, d)
				return
			}
		}
	}
	http.NotFound(w, r)
}

// makeCall has the DN's device place a call and answers with the DN's
// new participant once the PBX shows it (finalstatus Success), or
// Failed with the reason.
func (s *Server) makeCall(w http.ResponseWriter, r *http.Request) {
	dn := r.PathValue("dn")
	var req MakeCallRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Destination == "" {
		writeJSON(w, http.StatusBadRequest, CallControlResult{FinalStatus: -1, Reason: "BadRequest", ReasonText: "a JSON body with a destination is required"})
		return
	}
	s.mu.Lock()
	isExt := s.w.typeOf(dn) == TypeExtension
	before := map[int]bool{}
	for _, p := range s.w.participants(dn) {
		before[p.ID] = true
	}
	s.mu.Unlock()
	if !isExt || s.cfg.MakeCall == nil {
		writeJSON(w, http.StatusNotFound, CallControlResult{FinalStatus: -1, Reason: "NotFound", ReasonText: "DN " + dn + " is not an extension with a device"})
		return
	}
	if err := s.cfg.MakeCall(r.Context(), dn, req.Destination); err != nil {
		writeJSON(w, http.StatusOK, CallControlResult{FinalStatus: -1, Reason: "Failed", ReasonText: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		for _, p := range s.w.participants(dn) {
			if !before[p.ID] {
				s.mu.Unlock()
				writeJSON(w, http.StatusOK, CallControlResult{FinalStatus: 1, Result: &p})
				return
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, CallControlResult{FinalStatus: -1, Reason: "Timeout", ReasonText: "the device placed no call"})
			return
		}
	}
}

// participantAction runs drop; the other actions of 3CX ([cc-types]
// answer, divert, routeto, transferto, attach_participant_data) are not
// simulated.
func (s *Server) participantAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.lookup(r)
	channel := ""
	if ok {
		channel = p.channel
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.PathValue("action") != "drop" {
		writeJSON(w, http.StatusNotImplemented, CallControlResult{FinalStatus: -1, Reason: "NotImplemented", ReasonText: "pbxsim runs drop only"})
		return
	}
	if channel == "" || s.cfg.Hangup == nil || s.cfg.Hangup(channel) != nil {
		writeJSON(w, http.StatusOK, CallControlResult{FinalStatus: 0, Reason: "Rejected", ReasonText: "the participant is not in a conversation"})
		return
	}
	writeJSON(w, http.StatusOK, CallControlResult{FinalStatus: 1})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WebSocket sessions.

// readWriter reads through the upgrade's buffer and writes to the
// connection.
type readWriter struct {
	*bufio.Reader
	ss      *wsSession
	timeout time.Duration
}

// Write sends a control frame's answer, one frame at a time with the
// writer.
func (rw readWriter) Write(p []byte) (int, error) {
	rw.ss.wmu.Lock()
	defer rw.ss.wmu.Unlock()
	// The writer's deadline of its last event may have passed.
	_ = rw.ss.conn.SetWriteDeadline(time.Now().Add(rw.timeout))
	return rw.ss.conn.Write(p)
}

type wsSession struct {
	mu   sync.Mutex
	conn net.Conn // nil until the handshake is done
	dead bool
	wmu  sync.Mutex
	out  chan []byte
	once sync.Once
	done chan struct{}
}

func (ss *wsSession) kill() {
	ss.once.Do(func() {
		close(ss.done)
		ss.mu.Lock()
		ss.dead = true
		if ss.conn != nil {
			_ = ss.conn.Close()
		}
		ss.mu.Unlock()
	})
}

func (ss *wsSession) enqueue(b []byte) {
	select {
	case ss.out <- b:
	default:
		ss.kill()
	}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	// The session takes events from before the handshake's answer on:
	// a client that has read the answer misses nothing.
	ss := &wsSession{out: make(chan []byte, DefaultQueueLen), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.sessions[ss] = true
	s.accepted++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		ss.kill()
	}()
	conn, brw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	ss.mu.Lock()
	ss.conn = conn
	dead := ss.dead
	ss.mu.Unlock()
	if dead {
		_ = conn.Close()
		return
	}
	go func() {
		// Requests sent on the socket are read and not answered; control
		// frames are handled.
		rw := readWriter{brw.Reader, ss, s.writeTimeout}
		for {
			if _, _, err := wsutil.ReadClientData(rw); err != nil {
				ss.kill()
				return
			}
		}
	}()
	for {
		select {
		case b := <-ss.out:
			ss.wmu.Lock()
			_ = conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
			err := wsutil.WriteServerText(conn, b)
			ss.wmu.Unlock()
			if err != nil {
				return
			}
		case <-ss.done:
			return
		}
	}
}
