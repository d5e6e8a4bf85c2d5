package recording_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/dialect/threecx"
	"github.com/callhook/callhook/core/recording"
	"github.com/callhook/callhook/core/recording/analytics"
	"github.com/callhook/callhook/core/recording/download"
	"github.com/callhook/callhook/core/recording/internal/wavgen"
)

// posted is one request the receiver got.
type posted struct {
	query url.Values
	body  map[string]any
}

// world is a receiver, a download server and a Manager whose sink POSTs
// each event synchronously to the receiver, as delivery would in order,
// rendered by the 3cx dialect as the engine renders it.
type world struct {
	// endings are the call-end events of the call ids, sent with the
	// recordings when the receiver asks for full fields.
	endings  map[string]callmodel.Event
	mgr      *recording.Manager
	signer   *download.Signer
	dl       *download.Server
	client   *http.Client
	mu       sync.Mutex
	got      []posted
	wavDir   string
	now      atomic.Pointer[time.Time]
	sinkErrs chan error
}

func newWorld(t *testing.T, cfg recording.Config, opts ...threecx.Option) *world {
	t.Helper()
	if _, err := exec.LookPath("lame"); err != nil {
		t.Skip("lame not installed: run `make deps` (Debian package lame)")
	}
	w := &world{wavDir: t.TempDir(), sinkErrs: make(chan error, 16), endings: map[string]callmodel.Event{}}
	now := time.Now()
	w.now.Store(&now)
	clock := func() time.Time { return *w.now.Load() }

	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(rw, "bad request", 400)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, posted{r.URL.Query(), body})
		w.mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	target, _ := url.Parse(recv.URL + "/hook")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mp3Dir := filepath.Join(t.TempDir(), "recordings")
	w.signer, err = download.NewSigner(nil, "https://"+ln.Addr().String()+download.DefaultPrefix, 24*time.Hour, download.WithSignerClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	w.dl, err = download.New(download.Config{Dir: mp3Dir, Signer: w.signer, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- w.dl.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		w.dl.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	w.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.dl.CertPool()}}}
	t.Cleanup(w.client.CloseIdleConnections)

	cfg.Dir, cfg.Links = mp3Dir, w.signer
	cfg.Encoder = &recording.Encoder{Bitrate: 16}
	if cfg.Wait.Timeout == 0 {
		cfg.Wait = recording.WaitOptions{Timeout: 5 * time.Second, Poll: 2 * time.Millisecond, StableFor: time.Hour}
	}
	if len(opts) == 0 {
		opts = []threecx.Option{threecx.WithRecordings(threecx.InQuery, false)}
	}
	dialect := threecx.New("crm", target, append([]threecx.Option{threecx.WithLocation(time.UTC)}, opts...)...)
	cfg.Sink = func(ctx context.Context, ev recording.Event) {
		cev := callmodel.Event{Kind: callmodel.RecordingReady, ID: parseCallID(t, ev.CallID),
			Transcript: ev.Transcript, Summary: ev.Summary}
		if ev.Kind == recording.KindAnalytics {
			cev.Kind = callmodel.TranscriptReady
		}
		for _, f := range ev.Files {
			cev.Files = append(cev.Files, callmodel.RecordingFile{Name: f.Name, URL: f.URL, Duration: f.Duration})
		}
		if end, ok := w.endings[ev.CallID]; ok {
			cev.Ending = &end
		}
		req, ok := dialect.Render(cev)
		if !ok {
			w.sinkErrs <- errors.New("recording event not rendered")
			return
		}
		hr, _ := http.NewRequestWithContext(ctx, req.Method, req.URL, strings.NewReader(string(req.Body)))
		hr.Header = req.Header
		resp, err := http.DefaultClient.Do(hr)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = errors.New(resp.Status)
			}
		}
		if err != nil {
			w.sinkErrs <- err
		}
	}
	w.mgr, err = recording.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// parseCallID reads a 3CX call id (yyMMddHHmmss_N-L, UTC).
func parseCallID(t *testing.T, s string) callmodel.CallID {
	var date string
	var id callmodel.CallID
	if _, err := fmt.Sscanf(strings.NewReplacer("_", " ", "-", " ").Replace(s), "%s %d %d", &date, &id.Number, &id.Link); err != nil {
		t.Fatalf("call id %q: %v", s, err)
	}
	start, err := time.ParseInLocation("060102150405", date, time.UTC)
	if err != nil {
		t.Fatalf("call id %q: %v", s, err)
	}
	id.Start = start
	return id
}

// record writes one WAV file as the PBX would (sizes patched on close)
// and reports the stop.
func (w *world) record(t *testing.T, chain, callID, name string, pcm []byte) {
	t.Helper()
	p := filepath.Join(w.wavDir, name)
	w.mgr.FileStarted(chain, callID, p)
	wr, err := wavgen.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for len(pcm) > 0 { // written in 20 ms RTP-sized pieces
		n := min(320, len(pcm))
		wr.Write(pcm[:n])
		pcm = pcm[n:]
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	w.mgr.FileStopped(p)
}

func (w *world) download(t *testing.T, link string) (int, string) {
	t.Helper()
	resp, err := w.client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, ""
	}
	f := filepath.Join(t.TempDir(), "dl.mp3")
	os.WriteFile(f, b, 0o644)
	return 200, f
}

// Done when: mobile-reconnect: one recording POST with ≥ 2 MP3 links
// that download over HTTPS (200, valid MP3 frames, duration within 10%
// of the talk time) with the signed token, and 403 with a tampered or
// expired one; the analytics POST arrives after the recording POST.
func TestMobileReconnectOneRecordingPostThenAnalytics(t *testing.T) {
	w := newWorld(t, recording.Config{Analytics: analytics.Local{}}, threecx.WithRecordings(threecx.InQuery, true))
	const chain, id = "1772366400_7", "260301120000_7-1"
	// The mobile app lost its connection once: two files for one call id.
	part1 := wavgen.Bursts(800*time.Millisecond, 200*time.Millisecond, 3) // 2.8 s
	part2 := wavgen.Bursts(600*time.Millisecond, 400*time.Millisecond, 2) // 1.6 s
	w.record(t, chain, id, "rec-a.wav", part1)

	// The second file is still being written when the chain ends: the
	// Manager must wait for it.
	p2 := filepath.Join(w.wavDir, "rec-b.wav")
	w.mgr.FileStarted(chain, id, p2)
	wr, err := wavgen.Create(p2)
	if err != nil {
		t.Fatal(err)
	}
	wr.Write(part2[:len(part2)/2])
	w.endings[id] = callmodel.Event{Kind: callmodel.Ended, ID: parseCallID(t, id), Direction: callmodel.Inbound,
		External: "425630434343", User: "101", DID: "2125550100", Finish: callmodel.FinishOK, Talk: 4 * time.Second}
	w.mgr.ChainEnded(context.Background(), chain)
	wr.Write(part2[len(part2)/2:])
	wr.Close()
	w.mgr.FileStopped(p2)
	w.mgr.Wait()
	close(w.sinkErrs)
	for err := range w.sinkErrs {
		t.Fatal(err)
	}

	if len(w.got) != 2 {
		t.Fatalf("receiver got %d POSTs, want recording + analytics: %+v", len(w.got), w.got)
	}
	rec, an := w.got[0], w.got[1]
	files, ok := rec.body["FILES"].([]any)
	if !ok || len(files) != 2 || len(rec.body) != 1 {
		t.Fatalf("first POST is not the recording: %+v", rec.body)
	}
	if rec.query.Get("id") != id || rec.query.Get("event") != "incoming" || rec.query.Get("finishtype") != "Ok" {
		t.Fatalf("recording query %v", rec.query)
	}
	if _, ok := an.body["TEXT"]; !ok || an.query.Get("id") != id {
		t.Fatalf("second POST is not the analytics: %+v %v", an.body, an.query)
	}
	if s := an.body["SUMMARY"]; s != "no transcript; speech in 3 segment(s), 4.0 s of 4.4 s" {
		t.Fatalf("summary %q", s)
	}

	talk := []time.Duration{2800 * time.Millisecond, 1600 * time.Millisecond}
	for i, f := range files {
		link := f.(string)
		wantName := id + "-" + string(rune('1'+i)) + ".mp3"
		if !strings.Contains(link, "/webapi/recording/"+wantName+"?token=") {
			t.Fatalf("link %d = %s, want file %s", i, link, wantName)
		}
		code, path := w.download(t, link)
		if code != 200 {
			t.Fatalf("GET %s = %d", link, code)
		}
		info, err := recording.ProbeMP3(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := info.Duration - talk[i]; d > talk[i]/10 || -d > talk[i]/10 {
			t.Fatalf("file %d lasts %v, talk time %v", i+1, info.Duration, talk[i])
		}
		u, _ := url.Parse(link)
		tok := u.Query().Get("token")
		tampered := *u
		tampered.RawQuery = "token=" + url.QueryEscape(tok[:len(tok)-2]+"AA")
		if tok[len(tok)-2:] == "AA" {
			tampered.RawQuery = "token=" + url.QueryEscape(tok[:len(tok)-2]+"BB")
		}
		if code, _ := w.download(t, tampered.String()); code != 403 {
			t.Fatalf("tampered token: %d, want 403", code)
		}
	}
	later := w.now.Load().Add(25 * time.Hour)
	w.now.Store(&later)
	if code, _ := w.download(t, files[0].(string)); code != 403 {
		t.Fatalf("expired token: %d, want 403", code)
	}
}

// A transfer chain: each call id gets its own recording POST, in the
// order its recording began, and all recordings go before any analytics.
func TestChainWithTransferOrdersRecordingsBeforeAnalytics(t *testing.T) {
	w := newWorld(t, recording.Config{Analytics: analytics.Local{}})
	const chain = "1772366400_8"
	w.record(t, chain, "260301120000_8-1", "l1.wav", wavgen.Tone(time.Second, 440, 0.4))
	w.record(t, chain, "260301120000_8-2", "l2.wav", wavgen.Tone(time.Second, 440, 0.4))
	if err := w.mgr.Process(context.Background(), chain); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range w.got {
		k := "rec"
		if _, ok := p.body["TEXT"]; ok {
			k = "an"
		}
		kinds = append(kinds, k+":"+p.query.Get("id"))
	}
	want := "rec:260301120000_8-1 rec:260301120000_8-2 an:260301120000_8-1 an:260301120000_8-2"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("order %v, want %s", kinds, want)
	}
	if len(w.got[0].query) != 1 {
		t.Fatalf("without the full-fields switch only id is sent: %v", w.got[0].query)
	}
}

// A file that never completes is left out, named in the error; the rest
// of the conversation still goes out, and a chain without recordings
// sends nothing.
func TestLostFileLeftOut(t *testing.T) {
	w := newWorld(t, recording.Config{Wait: recording.WaitOptions{Timeout: 100 * time.Millisecond, Poll: 2 * time.Millisecond, StableFor: time.Hour}})
	const chain, id = "1772366400_9", "260301120000_9-1"
	w.record(t, chain, id, "ok.wav", wavgen.Tone(time.Second, 440, 0.4))
	lost := filepath.Join(w.wavDir, "lost.wav")
	w.mgr.FileStarted(chain, id, lost)
	wr, _ := wavgen.Create(lost)
	wr.Write(wavgen.Tone(time.Second, 440, 0.4))
	wr.Abandon()
	w.mgr.FileStopped(lost)
	err := w.mgr.Process(context.Background(), chain)
	if !errors.Is(err, recording.ErrIncomplete) || !strings.Contains(err.Error(), "lost.wav") {
		t.Fatalf("err = %v", err)
	}
	if len(w.got) != 1 || len(w.got[0].body["FILES"].([]any)) != 1 {
		t.Fatalf("got %+v", w.got)
	}
	if err := w.mgr.Process(context.Background(), "no-such-chain"); err != nil || len(w.got) != 1 {
		t.Fatalf("empty chain: %v, %d posts", err, len(w.got))
	}
}
