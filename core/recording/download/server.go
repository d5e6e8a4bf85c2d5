package download

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Config of a download server.
type Config struct {
	// Dir holds the MP3 files; only names passing ValidName directly in
	// it are served.
	Dir string
	// Signer checks the links' tokens; its base URL's path is the prefix
	// files are served under.
	Signer *Signer
	// CertFile and KeyFile: PEM certificate and key. Both empty: a
	// self-signed certificate is made at start for Hosts.
	CertFile, KeyFile string
	// Hosts the self-signed certificate names, besides localhost.
	Hosts []string
	// Logger; default discards.
	Logger *slog.Logger
	// Now is the clock tokens are checked against; default time.Now.
	Now func() time.Time
}

// Server serves recordings over HTTPS. Start it with Serve or
// ListenAndServe; stop it with Shutdown (drain) or Close.
type Server struct {
	dir    string
	root   *os.Root
	signer *Signer
	prefix string
	cert   tls.Certificate
	log    *slog.Logger
	now    func() time.Time
	srv    *http.Server
}

// New checks the configuration, opens the folder and loads (or makes) the
// certificate.
func New(cfg Config) (*Server, error) {
	if cfg.Signer == nil {
		return nil, errors.New("new download server: no signer")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("new download server: %w", err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("new download server: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cert, err := loadCertificate(cfg.CertFile, cfg.KeyFile, cfg.Hosts, now())
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("new download server: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{dir: cfg.Dir, root: root, signer: cfg.Signer, prefix: cfg.Signer.Prefix(), cert: cert,
		log: log.With("component", "recording-download"), now: now}
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// CertificatePEM is the serving certificate, for receivers to trust a
// self-signed one.
func (s *Server) CertificatePEM() []byte { return pemCert(s.cert) }

// CertPool holds the serving certificate (tests and receivers that pin it).
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s.CertificatePEM())
	return p
}

// ListenAndServe listens on addr (e.g. ":5001") and serves until ctx ends
// or Shutdown/Close is called.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for downloads on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTPS on ln until ctx ends (then it closes the server) or
// Shutdown/Close is called. It returns nil after a normal stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { s.srv.Close() })
	defer stop()
	err := s.srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for downloads in progress until ctx
// ends, like http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.root.Close()
	return err
}

// Close stops at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.root.Close()
	return err
}

// ServeHTTP answers GET/HEAD <prefix><name>?token=…: 404 for a path that
// is not a servable name or a file that does not exist, 403 for a
// missing, wrong, tampered or expired token. The name is checked before
// the token, and the token before the file system is touched, so an
// unsigned request learns nothing about which files exist.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// r.URL.Path is already percent-decoded: "%2e%2e%2f" arrives as
	// "../" and "%2f" as "/", both refused by ValidName.
	name, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if !ok || ValidName(name) != nil {
		s.log.Debug("refused download path", "path", r.URL.Path, "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	if err := s.signer.Verify(name, r.URL.Query().Get(TokenParam), s.now()); err != nil {
		s.log.Info("refused download", "file", name, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	f, err := s.root.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("open recording", "file", name, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, name, st.ModTime(), io.ReadSeeker(f))
	s.log.Debug("served recording", "file", name, "remote", r.RemoteAddr)
}
