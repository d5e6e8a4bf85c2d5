package recording

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/callhook/callhook/core/recording/analytics"
)

// Linker makes the download link for a stored file name;
// *download.Signer is one.
type Linker interface {
	URL(name string) string
}

// Sink receives the events to deliver, in delivery order: for a chain,
// every recording event, then the analytics events. The engine turns each
// into a call event and queues what its receivers' dialects render.
type Sink func(ctx context.Context, ev Event)

// Config of a Manager.
type Config struct {
	// Dir is the folder the MP3 files go to (and the download server
	// serves).
	Dir string
	// Encoder converts WAV to MP3; nil uses lame with its defaults.
	Encoder *Encoder
	// Wait tunes how long a WAV file may take to complete; Closed is set
	// by the Manager from FileStopped.
	Wait WaitOptions
	// Links signs the download links.
	Links Linker
	// Analytics, when not nil, turns speech analytics on.
	Analytics analytics.Provider
	// SummarySentences: length of the extractive summary; default 2.
	SummarySentences int
	// Sink receives the events.
	Sink   Sink
	Logger *slog.Logger
}

// Manager follows the recordings of live calls and, when a chain ends,
// produces its recording and analytics events. It is safe for
// concurrent use.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	mu     sync.Mutex
	chains map[string]*chainState
	files  map[string]*tracked // by WAV path
	wg     sync.WaitGroup
}

type chainState struct {
	files []*tracked
}

type tracked struct {
	callID, path string
	stopped      chan struct{}
	once         sync.Once
}

func (t *tracked) stop() { t.once.Do(func() { close(t.stopped) }) }

// NewManager checks cfg and creates the MP3 folder.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Dir == "" || cfg.Links == nil || cfg.Sink == nil {
		return nil, errors.New("new recording manager: Dir, Links and Sink are required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("new recording manager: %w", err)
	}
	if cfg.Encoder == nil {
		cfg.Encoder = &Encoder{}
	}
	if cfg.SummarySentences <= 0 {
		cfg.SummarySentences = 2
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log.With("component", "recording"),
		chains: map[string]*chainState{}, files: map[string]*tracked{}}, nil
}

func (m *Manager) chain(key string) *chainState {
	c := m.chains[key]
	if c == nil {
		c = &chainState{}
		m.chains[key] = c
	}
	return c
}

// FileStarted records that the PBX began writing wavPath for callID (the
// 3CX call id, e.g. 210701165649_698-1) of chain. Call it once per file,
// in the order the files begin: a mobile reconnect starts another file
// for the same call id.
func (m *Manager) FileStarted(chain, callID, wavPath string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.files[wavPath]; dup {
		return
	}
	t := &tracked{callID: callID, path: wavPath, stopped: make(chan struct{})}
	m.files[wavPath] = t
	c := m.chain(chain)
	c.files = append(c.files, t)
	m.log.Debug("recording started", "chain", chain, "id", callID, "file", wavPath)
}

// FileStopped records that the PBX stopped writing wavPath (MixMonitor's
// stop); the Manager then needs only a patched header to take it.
func (m *Manager) FileStopped(wavPath string) {
	m.mu.Lock()
	t := m.files[wavPath]
	m.mu.Unlock()
	if t != nil {
		t.stop()
	}
}

// ChainEnded starts producing the chain's events in the background, once
// the external party has hung up. Wait waits for it.
func (m *Manager) ChainEnded(ctx context.Context, chain string) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.Process(ctx, chain); err != nil {
			m.log.Warn("recording", "chain", chain, "err", err)
		}
	}()
}

// Wait blocks until every ChainEnded in progress has finished.
func (m *Manager) Wait() { m.wg.Wait() }

// Process produces the chain's events synchronously: for each call id
// with recordings, in the order its first file began, it waits for every
// file, converts it and sends one recording event listing all its files;
// then, with analytics on, one analytics event per recording event. A
// file that fails is left out of its event (the error is returned); a
// call id whose files all failed gets no event.
func (m *Manager) Process(ctx context.Context, chain string) error {
	m.mu.Lock()
	c := m.chains[chain]
	delete(m.chains, chain)
	m.mu.Unlock()
	if c == nil || len(c.files) == 0 {
		return nil
	}
	// The files stay known until they are handled: the PBX may report a
	// recording's stop after the hangup.
	defer func() {
		m.mu.Lock()
		for _, f := range c.files {
			delete(m.files, f.path)
		}
		m.mu.Unlock()
	}()
	var order []string
	byID := map[string][]*tracked{}
	for _, f := range c.files {
		if _, seen := byID[f.callID]; !seen {
			order = append(order, f.callID)
		}
		byID[f.callID] = append(byID[f.callID], f)
	}
	var errs []error
	var sent []Event
	for _, id := range order {
		ev, err := m.convert(ctx, chain, id, byID[id])
		if err != nil {
			errs = append(errs, err)
		}
		if len(ev.Files) == 0 {
			continue
		}
		m.cfg.Sink(ctx, ev)
		sent = append(sent, ev)
	}
	if m.cfg.Analytics != nil {
		for _, rec := range sent {
			ev, err := m.analyse(ctx, rec)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			m.cfg.Sink(ctx, ev)
		}
	}
	return errors.Join(errs...)
}

// convert waits for and encodes the files of one call id. File n (from
// 1, by start order) is stored as <callID>-<n>.mp3, the document's
// naming (210701165649_698-1-1.mp3); the number keeps its position even
// when an earlier file failed.
func (m *Manager) convert(ctx context.Context, chain, callID string, files []*tracked) (Event, error) {
	ev := Event{Kind: KindRecording, Chain: chain, CallID: callID}
	if err := validCallID(callID); err != nil {
		return ev, err
	}
	var errs []error
	for i, f := range files {
		o := m.cfg.Wait
		o.Closed = f.stopped
		info, err := WaitComplete(ctx, f.path, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("call %s: %w", callID, err))
			continue
		}
		if info.DataSize == 0 {
			m.log.Info("empty recording skipped", "id", callID, "file", f.path)
			continue
		}
		name := fmt.Sprintf("%s-%d.mp3", callID, i+1)
		dst := filepath.Join(m.cfg.Dir, name)
		if err := m.cfg.Encoder.Encode(ctx, f.path, dst); err != nil {
			errs = append(errs, fmt.Errorf("call %s: %w", callID, err))
			continue
		}
		mp3, err := ProbeMP3(dst)
		if err != nil {
			errs = append(errs, fmt.Errorf("call %s: %w", callID, err))
			continue
		}
		ev.Files = append(ev.Files, File{Name: name, URL: m.cfg.Links.URL(name), Source: f.path, Duration: mp3.Duration})
		m.log.Info("recording stored", "id", callID, "file", name, "duration", mp3.Duration)
	}
	return ev, errors.Join(errs...)
}

// analyse transcribes the WAV files of a recording event in order and
// summarises the whole conversation.
func (m *Manager) analyse(ctx context.Context, rec Event) (Event, error) {
	var all analytics.Transcript
	for _, f := range rec.Files {
		t, err := m.cfg.Analytics.Transcribe(ctx, f.Source)
		if err != nil {
			return Event{}, fmt.Errorf("analytics for call %s: %w", rec.CallID, err)
		}
		all = all.Join(t)
	}
	ev := Event{Kind: KindAnalytics, Chain: rec.Chain, CallID: rec.CallID, Transcript: all.Text()}
	if ev.Transcript != "" {
		ev.Summary = analytics.Summarize(ev.Transcript, m.cfg.SummarySentences)
	} else {
		ev.Summary = analytics.Describe(all)
	}
	return ev, nil
}

// validCallID keeps call ids usable as file names: the 3CX form uses
// digits, '_' and '-' only.
func validCallID(id string) error {
	if id == "" || len(id) > 100 {
		return fmt.Errorf("store recording: bad call id %q", id)
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return fmt.Errorf("store recording: bad call id %q", id)
		}
	}
	return nil
}
