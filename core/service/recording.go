package service

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/recording"
	"github.com/callhook/callhook/core/recording/analytics"
	"github.com/callhook/callhook/core/recording/download"
	"github.com/callhook/callhook/core/signal"
)

// Recorder is the running [recordings] part of a service: it follows the
// recordings of calls from the engine's signals, turns them into MP3
// files and recording (and analytics) POSTs queued in the same durable
// outbox as every other webhook, serves the files over HTTPS and deletes
// expired ones nightly.
type Recorder struct {
	cfg       config.Recordings
	log       *slog.Logger
	mgr       *recording.Manager
	server    *download.Server
	signer    *download.Signer
	ln        net.Listener
	base      *url.URL
	targets   []recordingTarget
	fields    engine.Renderer // renders call-end events for full_fields
	fieldsURL *url.URL
	placement recording.Placement
	loc       *time.Location
	out       engine.Deliverer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Used by the engine's goroutine only (the signal hook).
	chains     map[string][]string // chain -> its legs that were recorded
	unresolved map[string][]string // leg -> files begun before the model placed the leg
}

// recordingTarget is a webhook that gets the recording POSTs.
type recordingTarget struct {
	hook config.Webhook
}

// newRecorder builds the recorder the [recordings] section describes and
// starts its download server and retention; nil when the section is
// absent. receivers are the engine's, by which full_fields renders the
// call-end event; out is the durable outbox.
func newRecorder(cfg *config.Config, receivers []engine.Receiver, out engine.Deliverer, log *slog.Logger) (*Recorder, error) {
	rc := cfg.Recordings
	if !rc.Enabled() {
		return nil, nil
	}
	where := fmt.Sprintf("%s:%d: [recordings]", cfg.File, rc.Line)
	r := &Recorder{cfg: rc, log: log.With("component", "recordings"), out: out, loc: cfg.PBX.Timezone,
		chains: map[string][]string{}, unresolved: map[string][]string{}}
	if r.loc == nil {
		r.loc = time.Local
	}
	for _, w := range cfg.Webhooks {
		if (len(rc.Webhooks) == 0 && w.Dialect == "3cx") || contains(rc.Webhooks, w.Name) {
			r.targets = append(r.targets, recordingTarget{hook: w})
		}
	}
	if len(r.targets) == 0 {
		return nil, fmt.Errorf("%s: no 3cx webhook to send the recording POSTs to (set webhooks, or add a [webhook.NAME] with dialect = 3cx)", where)
	}
	for _, rv := range receivers {
		if rv.Name == r.targets[0].hook.Name {
			r.fields, r.fieldsURL = rv.Renderer, r.targets[0].hook.URL
		}
	}
	var err error
	if r.placement, err = recording.ParsePlacement(rc.Placement); err != nil {
		return nil, fmt.Errorf("%s id_placement: %w", where, err)
	}
	enc := &recording.Encoder{Path: rc.Lame, Bitrate: rc.Bitrate}
	if _, err := enc.LookPath(); err != nil {
		return nil, fmt.Errorf("%s lame: %w (install the Debian package lame, or set lame to its path)", where, err)
	}
	provider, err := analyticsProvider(rc, log)
	if err != nil {
		return nil, fmt.Errorf("%s analytics: %w", where, err)
	}
	r.ln, err = net.Listen("tcp", rc.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s listen: %w", where, err)
	}
	r.base = baseURL(rc, r.ln.Addr())
	var key []byte
	if rc.LinkKey != "" {
		key = []byte(rc.LinkKey.Reveal())
	}
	if r.signer, err = download.NewSigner(key, r.base.String(), rc.LinkLifetime); err != nil {
		r.ln.Close()
		return nil, fmt.Errorf("%s link_key: %w", where, err)
	}
	r.server, err = download.New(download.Config{Dir: rc.Folder, Signer: r.signer, CertFile: rc.CertFile, KeyFile: rc.KeyFile,
		Hosts: []string{r.base.Hostname()}, Logger: log})
	if err != nil {
		r.ln.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	r.mgr, err = recording.NewManager(recording.Config{
		Dir: rc.Folder, Encoder: enc, Wait: recording.WaitOptions{Timeout: rc.WaitTimeout},
		Links: r.signer, FullFields: rc.FullFields, Analytics: provider, Sink: r.sink, Logger: log,
	})
	if err != nil {
		r.ln.Close()
		return nil, fmt.Errorf("%s folder: %w", where, err)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		if err := r.server.Serve(r.ctx, r.ln); err != nil {
			r.log.Error("recording downloads stopped", "err", err)
		}
	}()
	go func() {
		defer r.wg.Done()
		ret := &recording.Retention{Dir: rc.Folder, MaxAge: time.Duration(rc.Days) * 24 * time.Hour, Hour: rc.Hour,
			Location: r.loc, Logger: log}
		_ = ret.Run(r.ctx)
	}()
	r.log.Info("recordings", "folder", rc.Folder, "downloads", r.base.String(), "listen", r.ln.Addr().String(),
		"days", rc.Days, "analytics", rc.Analytics)
	return r, nil
}

// baseURL is the configured public base, else https://<host>:<port> of
// the listener under the document's /webapi/recording/ prefix; a
// wildcard listen address is named by the machine's host name.
func baseURL(rc config.Recordings, addr net.Addr) *url.URL {
	if rc.BaseURL != nil {
		u := *rc.BaseURL
		return &u
	}
	host, _, _ := strings.Cut(rc.Listen, ":")
	if h, _, err := net.SplitHostPort(rc.Listen); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _ = os.Hostname()
		if host == "" {
			host = "localhost"
		}
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, port), Path: download.DefaultPrefix}
}

func analyticsProvider(rc config.Recordings, log *slog.Logger) (analytics.Provider, error) {
	switch rc.Analytics {
	case "":
		return nil, nil
	case "local":
		return analytics.Local{}, nil
	case "yandex":
		return &analytics.Yandex{
			APIKey: rc.YandexAPIKey.Reveal(), IAMToken: rc.YandexIAMToken.Reveal(), FolderID: rc.YandexFolderID,
			Model: rc.YandexModel, Languages: rc.YandexLanguages, STTURL: rc.YandexSTTURL, OperationURL: rc.YandexOpURL,
			Logger: log,
		}, nil
	}
	return nil, fmt.Errorf("unknown provider %q", rc.Analytics)
}

// hook follows recordings through the engine's signals: a recording
// that starts belongs to the link its leg's call is at; a chain whose
// recorded legs the model no longer follows is over, and its files are
// converted and announced.
func (r *Recorder) hook(_ context.Context, s signal.Signal, m *callmodel.Model, events []callmodel.Event) error {
	switch s.Kind {
	case signal.RecordingStarted:
		file := s.File
		if file == "" {
			r.log.Warn("recording started without a file name; it cannot be collected", "leg", s.Leg.ID)
			break
		}
		if !r.start(m, s.Leg.ID, file) {
			r.unresolved[s.Leg.ID] = append(r.unresolved[s.Leg.ID], file)
		}
	case signal.RecordingStopped:
		if file := s.File; file != "" {
			r.mgr.FileStopped(file)
		}
	}
	if files := r.unresolved[s.Leg.ID]; len(files) > 0 && s.Kind != signal.RecordingStarted {
		// The PBX announced the recording before the model placed its
		// leg; take it as soon as the leg belongs to a call.
		if _, ok := m.CallOf(s.Leg.ID); ok {
			delete(r.unresolved, s.Leg.ID)
			for _, f := range files {
				r.start(m, s.Leg.ID, f)
			}
		} else if s.Kind == signal.LegGone {
			delete(r.unresolved, s.Leg.ID)
			r.log.Warn("recording of a leg that belongs to no call is dropped", "leg", s.Leg.ID, "files", files)
		}
	}
	if r.cfg.FullFields {
		for _, ev := range events {
			if ev.Kind == callmodel.Ended {
				r.callEnded(ev)
			}
		}
	}
	if s.Kind == signal.LegGone {
		r.endChains(m)
	}
	return nil
}

// start hands a file to the manager under the leg's call id, false when
// the leg belongs to no call yet.
func (r *Recorder) start(m *callmodel.Model, leg, file string) bool {
	id, ok := m.CallOf(leg)
	if !ok {
		return false
	}
	chain := id.Chain()
	r.mgr.FileStarted(chain, threecx.FormatID(id, r.loc), file)
	if !contains(r.chains[chain], leg) {
		r.chains[chain] = append(r.chains[chain], leg)
	}
	return true
}

// endChains starts the conversion of every chain none of whose recorded
// legs the model still follows: all its channels have hung up, so the PBX
// is closing its files.
func (r *Recorder) endChains(m *callmodel.Model) {
	for chain, legs := range r.chains {
		live := false
		for _, l := range legs {
			if _, ok := m.CallOf(l); ok {
				live = true
				break
			}
		}
		if !live {
			delete(r.chains, chain)
			r.mgr.ChainEnded(r.ctx, chain)
		}
	}
}

// callEnded gives the manager the call-end fields of the first target's
// 3CX request, for full_fields.
func (r *Recorder) callEnded(ev callmodel.Event) {
	if r.fields == nil {
		return
	}
	req, ok := r.fields.Render(ev)
	if !ok {
		return
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return
	}
	q := u.RawQuery
	if own := r.fieldsURL.RawQuery; own != "" {
		q = strings.TrimPrefix(q, own+"&")
	}
	fields, err := recording.FieldsFromQuery(q)
	if err != nil {
		r.log.Warn("call-end fields unreadable", "url", req.URL, "err", err)
		return
	}
	r.mgr.CallEnded(ev.ID.Chain(), threecx.FormatID(ev.ID, r.loc), fields)
}

// sink queues an event for every target in the durable outbox. The
// outbox refusing (full disk, cluster away) is retried until the service
// stops, so a recording POST is never silently dropped.
func (r *Recorder) sink(ctx context.Context, ev recording.Event) {
	for _, t := range r.targets {
		req := ev.Request(t.hook.Name, t.hook.URL, r.placement)
		for k, v := range t.hook.Headers {
			req.Header.Set(k, v)
		}
		req.Timeout = t.hook.Timeout
		wait := 100 * time.Millisecond
		for {
			err := r.out.Enqueue(ctx, req)
			if err == nil {
				r.log.Info("recording webhook queued", "kind", ev.Kind, "id", ev.CallID, "files", len(ev.Files), "receiver", t.hook.Name)
				break
			}
			r.log.Warn("recording webhook not queued yet", "id", req.ID, "err", err)
			select {
			case <-ctx.Done():
				r.log.Error("recording webhook not queued: stopping", "id", req.ID, "err", err)
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 10*time.Second)
		}
	}
}

// URL is the base of the download links.
func (r *Recorder) URL() string { return r.base.String() }

// Addr is where the download server listens.
func (r *Recorder) Addr() net.Addr { return r.ln.Addr() }

// CertPool trusts the download server's certificate (a self-signed one
// when the configuration names none).
func (r *Recorder) CertPool() *x509.CertPool { return r.server.CertPool() }

// Wait blocks until every ended chain's recordings were converted and
// their webhooks queued.
func (r *Recorder) Wait() { r.mgr.Wait() }

// shutdown lets conversions under way finish (until ctx ends), then stops
// the download server and retention.
func (r *Recorder) shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.mgr.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("wait for recordings: %w", ctx.Err())
	}
	r.close()
	return err
}

// close stops at once; conversions under way are cancelled.
func (r *Recorder) close() {
	r.cancel()
	if err := r.server.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		r.log.Debug("close downloads", "err", err)
	}
	r.wg.Wait()
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
