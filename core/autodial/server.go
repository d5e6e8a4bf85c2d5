package autodial

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/callhook/callhook/core/connector"
)

// Originator starts calls on the PBX: the connector, when its PBX can.
type Originator = connector.Originator

// Config configures a Server.
type Config struct {
	Listen     string // host:port
	Token      string // bearer token required on every request
	Registry   *Registry
	Originator Originator
	// Context and Prefix: where the extension's originated leg continues
	// in the dialplan (default from-internal, and 9 before the number).
	Context, Prefix string
	// Trunk is the endpoint a number's first leg is dialled through
	// (default trunk).
	Trunk string
	// RingTimeout bounds the first leg's ringing (default 30 s).
	RingTimeout time.Duration
	Logger      *slog.Logger
}

// Errors of a request, answered as 400 with the message.
var (
	ErrBadRequest = errors.New("bad autodial request")
	// ErrPBX: the PBX refused the Originate or could not be reached.
	ErrPBX = errors.New("pbx did not start the call")
)

// Server serves the autodial API.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
}

// extension is a PBX extension number (as the call model's default
// pattern): everything else is a number reached through the trunk.
var (
	extension = regexp.MustCompile(`^[0-9]{2,6}$`)
	dialable  = regexp.MustCompile(`^\+?[0-9*#]{2,32}$`)
)

// NewServer checks cfg and returns a Server; Start listens.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Originator == nil {
		return nil, errors.New("new autodial server: registry and originator are required")
	}
	if cfg.Token == "" {
		return nil, errors.New("new autodial server: a token is required")
	}
	if cfg.Context == "" {
		cfg.Context = "from-internal"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "9"
	}
	if cfg.Trunk == "" {
		cfg.Trunk = "trunk"
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/autodial", s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Start listens on cfg.Listen and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen autodial api on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the API.
func (s *Server) Close() error { return s.srv.Close() }

// Request is the body of POST /v1/autodial (JSON, or a form with the same
// keys).
type Request struct {
	Caller         string  `json:"caller"` // an extension, or a number
	Callee         string  `json:"callee"` // the number to call
	AdditionalData *string `json:"additional_data"`
	CallbackURL    *string `json:"callback_url"`
	PBXNumber      string  `json:"pbx_number"` // the PBX number the call is for (caller id)
}

// Answer is the API's answer to a started call.
type Answer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="callhook autodial"`)
		writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
		return
	}
	req, err := readRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	c, err := s.Dial(r.Context(), req)
	switch {
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(Answer{ID: c.ID, Status: "queued"})
}

func readRequest(r *http.Request) (Request, error) {
	var req Request
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return req, fmt.Errorf("%w: read form: %v", ErrBadRequest, err)
		}
		opt := func(k string) *string {
			if !r.PostForm.Has(k) {
				return nil
			}
			v := r.PostForm.Get(k)
			return &v
		}
		return Request{Caller: r.PostForm.Get("caller"), Callee: r.PostForm.Get("callee"),
			AdditionalData: opt("additional_data"), CallbackURL: opt("callback_url"), PBXNumber: r.PostForm.Get("pbx_number")}, nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: read JSON body: %v", ErrBadRequest, err)
	}
	return req, nil
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Dial checks req and starts the call: Originate rings the caller (an
// extension, or a number through the trunk) and, once answered, the
// dialplan dials the callee. It returns when the PBX accepted the
// Originate (the call then runs on its own).
func (s *Server) Dial(ctx context.Context, req Request) (Call, error) {
	if !dialable.MatchString(req.Caller) || !dialable.MatchString(req.Callee) {
		return Call{}, fmt.Errorf("%w: caller %q and callee %q must be numbers (an extension or a phone number)", ErrBadRequest, req.Caller, req.Callee)
	}
	if req.CallbackURL != nil {
		u, err := url.Parse(*req.CallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Call{}, fmt.Errorf("%w: callback_url %q: want an absolute http(s) URL", ErrBadRequest, *req.CallbackURL)
		}
	}
	c := &Call{ID: newID(), Caller: req.Caller, Callee: req.Callee, AdditionalData: req.AdditionalData,
		CallbackURL: req.CallbackURL, PBXNumber: req.PBXNumber, Created: time.Now()}
	c.Endpoint = req.Caller
	if !extension.MatchString(req.Caller) {
		c.Endpoint = s.cfg.Trunk
	}
	cid := req.Caller
	if req.PBXNumber != "" {
		cid = req.PBXNumber
	}
	s.cfg.Registry.expect(c)
	started, err := s.cfg.Originator.Originate(ctx, connector.Origination{
		ID: c.ID, From: req.Caller, FromIsNumber: c.Endpoint == s.cfg.Trunk, Trunk: s.cfg.Trunk,
		To: s.cfg.Prefix + req.Callee, Context: s.cfg.Context, CallerID: cid, RingTimeout: s.cfg.RingTimeout,
	})
	if err != nil {
		s.cfg.Registry.forget(c.ID)
		return Call{}, fmt.Errorf("%w: call %s from %s: %v", ErrPBX, req.Callee, req.Caller, err)
	}
	s.log.Info("autodial started", "id", c.ID, "caller", req.Caller, "callee", req.Callee, "pbx", started.Message)
	return *c, nil
}

// newID is a random UUID (version 4), usable as an Asterisk channel id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
