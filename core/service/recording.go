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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/recording"
	"github.com/callhook/callhook/core/recording/analytics"
	"github.com/callhook/callhook/core/recording/download"
	"github.com/callhook/callhook/core/signal"
)

// Recorder is the running [recordings] part of a service, a stage of the
// engine's pipeline: it follows the recordings of calls through the
// signals and the model, turns them into MP3 files, and publishes
// RecordingReady and TranscriptReady events through the engine, whose
// receivers' dialects render the POSTs into the same durable outbox as
// every other webhook. It serves the files over HTTPS and deletes expired
// ones nightly.
type Recorder struct {
	cfg     config.Recordings
	log     *slog.Logger
	mgr     *recording.Manager
	server  *download.Server
	signer  *download.Signer
	ln      net.Listener
	base    *url.URL
	loc     *time.Location
	publish func(context.Context, callmodel.Event) error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Used by the engine's goroutine only (the stage).
	chains     map[string][]string // chain -> its legs that were recorded
	unresolved map[string][]string // leg -> files begun before the model placed the leg
	over       []string            // chains whose legs are all gone, converted once committed

	mu      sync.Mutex
	ids     map[string]callmodel.CallID // file-name call id -> the link it names
	endings map[string]callmodel.Event  // file-name call id -> the link's call-end event (full_fields)
}

// recordingTargets are the webhooks that get the recording POSTs: those
// [recordings] webhooks names, else every webhook whose dialect has
// recording POSTs.
func recordingTargets(cfg *config.Config) map[string]bool {
	out := map[string]bool{}
	for _, w := range cfg.Webhooks {
		spec, err := dialect.Lookup(w.Dialect)
		if err != nil || !spec.Recordings {
			continue
		}
		if len(cfg.Recordings.Webhooks) == 0 || slices.Contains(cfg.Recordings.Webhooks, w.Name) {
			out[w.Name] = true
		}
	}
	return out
}

// newRecorder builds the recorder the [recordings] section describes and
// starts its download server and retention; nil when the section is
// absent.
func newRecorder(cfg *config.Config, log *slog.Logger) (*Recorder, error) {
	rc := cfg.Recordings
	if !rc.Enabled() {
		return nil, nil
	}
	where := fmt.Sprintf("%s:%d: [recordings]", cfg.File, rc.Line)
	r := &Recorder{cfg: rc, log: log.With("component", "recordings"), loc: cfg.PBX.Timezone,
		chains: map[string][]string{}, unresolved: map[string][]string{},
		ids: map[string]callmodel.CallID{}, endings: map[string]callmodel.Event{}}
	if r.loc == nil {
		r.loc = time.Local
	}
	if len(recordingTargets(cfg)) == 0 {
		return nil, fmt.Errorf("%s: no webhook to send the recording POSTs to (set webhooks, or add a [webhook.NAME] whose dialect has them: %s)",
			where, strings.Join(recordingDialects(), ", "))
	}
	var err error
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
		Links: r.signer, Analytics: provider, Sink: r.sink, Logger: log,
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

// recordingDialects names the dialects that have recording POSTs.
func recordingDialects() []string {
	var out []string
	for _, n := range dialect.Names() {
		if spec, _ := dialect.Lookup(n); spec.Recordings {
			out = append(out, n)
		}
	}
	return out
}

// Process follows recordings through the engine's signals (engine.Stage):
// a recording that starts belongs to the link its leg's call is at; a
// chain whose recorded legs the model no longer follows is over, and its
// files are converted once what came before is committed.
func (r *Recorder) Process(s signal.Signal, evs []callmodel.Event, calls engine.Calls) {
	switch s.Kind {
	case signal.RecordingStarted:
		if s.File == "" {
			r.log.Warn("recording started without a file name; it cannot be collected", "leg", s.Leg.ID)
			break
		}
		if !r.start(calls, s.Leg.ID, s.File) {
			r.unresolved[s.Leg.ID] = append(r.unresolved[s.Leg.ID], s.File)
		}
	case signal.RecordingStopped:
		if s.File != "" {
			r.mgr.FileStopped(s.File)
		}
	}
	if files := r.unresolved[s.Leg.ID]; len(files) > 0 && s.Kind != signal.RecordingStarted {
		// The PBX announced the recording before the model placed its
		// leg; take it as soon as the leg belongs to a call.
		if _, ok := calls.CallOf(s.Leg.ID); ok {
			delete(r.unresolved, s.Leg.ID)
			for _, f := range files {
				r.start(calls, s.Leg.ID, f)
			}
		} else if s.Kind == signal.LegGone {
			delete(r.unresolved, s.Leg.ID)
			r.log.Warn("recording of a leg that belongs to no call is dropped", "leg", s.Leg.ID, "files", files)
		}
	}
	if r.cfg.FullFields {
		for _, ev := range evs {
			if ev.Kind == callmodel.Ended {
				r.mu.Lock()
				r.endings[ev.ID.Format(r.loc)] = ev
				r.mu.Unlock()
			}
		}
	}
	if s.Kind == signal.LegGone {
		r.endChains(calls)
	}
}

// Committed starts converting the chains found over (engine.Committer):
// their recording POSTs follow the call's webhooks, now in the outbox.
func (r *Recorder) Committed(context.Context) {
	for _, chain := range r.over {
		r.mgr.ChainEnded(r.ctx, chain)
	}
	r.over = r.over[:0]
}

// start hands a file to the manager under the leg's call id, false when
// the leg belongs to no call yet.
func (r *Recorder) start(calls engine.Calls, leg, file string) bool {
	id, ok := calls.CallOf(leg)
	if !ok {
		return false
	}
	chain, name := id.Chain(), id.Format(r.loc)
	r.mu.Lock()
	r.ids[name] = id
	r.mu.Unlock()
	r.mgr.FileStarted(chain, name, file)
	if !slices.Contains(r.chains[chain], leg) {
		r.chains[chain] = append(r.chains[chain], leg)
	}
	return true
}

// endChains notes every chain none of whose recorded legs the model still
// follows: all its channels have hung up, so the PBX is closing its files.
func (r *Recorder) endChains(calls engine.Calls) {
	for chain, legs := range r.chains {
		live := false
		for _, l := range legs {
			if _, ok := calls.CallOf(l); ok {
				live = true
				break
			}
		}
		if !live {
			delete(r.chains, chain)
			r.over = append(r.over, chain)
		}
	}
}

// sink publishes a recording or analytics event through the engine. The
// outbox refusing (full disk, cluster away) is retried until the service
// stops, so a recording POST is never silently dropped.
func (r *Recorder) sink(ctx context.Context, ev recording.Event) {
	r.mu.Lock()
	id, known := r.ids[ev.CallID]
	ending, hasEnding := r.endings[ev.CallID]
	if ev.Kind == recording.KindAnalytics || r.cfg.Analytics == "" {
		// The last event of this call id: forget it.
		delete(r.ids, ev.CallID)
		delete(r.endings, ev.CallID)
	}
	r.mu.Unlock()
	if !known {
		r.log.Error("recording of an unknown call id is dropped", "id", ev.CallID)
		return
	}
	cev := callmodel.Event{Kind: callmodel.RecordingReady, Time: time.Now().In(r.loc), ID: id,
		Transcript: ev.Transcript, Summary: ev.Summary}
	if ev.Kind == recording.KindAnalytics {
		cev.Kind = callmodel.TranscriptReady
	}
	for _, f := range ev.Files {
		cev.Files = append(cev.Files, callmodel.RecordingFile{Name: f.Name, URL: f.URL, Duration: f.Duration})
	}
	if hasEnding {
		cev.Ending = &ending
	}
	wait := 100 * time.Millisecond
	for {
		err := r.publish(ctx, cev)
		if err == nil {
			r.log.Info("recording webhook queued", "kind", cev.Kind, "id", ev.CallID, "files", len(ev.Files))
			return
		}
		r.log.Warn("recording webhook not queued yet", "id", ev.CallID, "kind", cev.Kind, "err", err)
		select {
		case <-ctx.Done():
			r.log.Error("recording webhook not queued: stopping", "id", ev.CallID, "kind", cev.Kind, "err", err)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
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
