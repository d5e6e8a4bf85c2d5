package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callhook/callhook/core/recording/internal/wavgen"
)

// speechKit is a local double of SpeechKit's v3 asynchronous API: it
// checks what the documentation requires of a request and answers with
// the documented shapes.
type speechKit struct {
	t       *testing.T
	mu      sync.Mutex
	audio   []byte
	polls   int
	lines   []string // getRecognition stream
	opError bool
}

func (s *speechKit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Api-Key test-key" || r.Header.Get("x-folder-id") != "b1gfolder" {
		http.Error(w, `{"code":16,"message":"Unauthenticated"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/stt/v3/recognizeFileAsync":
		var req struct {
			Content          string `json:"content"`
			RecognitionModel struct {
				Model       string `json:"model"`
				AudioFormat struct {
					ContainerAudio struct {
						ContainerAudioType string `json:"containerAudioType"`
					} `json:"containerAudio"`
				} `json:"audioFormat"`
				LanguageRestriction struct {
					RestrictionType string   `json:"restrictionType"`
					LanguageCode    []string `json:"languageCode"`
				} `json:"languageRestriction"`
			} `json:"recognitionModel"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		audio, err := base64.StdEncoding.DecodeString(req.Content)
		m := req.RecognitionModel
		if err != nil || m.Model != "general" || m.AudioFormat.ContainerAudio.ContainerAudioType != "WAV" ||
			m.LanguageRestriction.RestrictionType != "WHITELIST" || strings.Join(m.LanguageRestriction.LanguageCode, ",") != "ru-RU" {
			http.Error(w, `{"code":3,"message":"invalid request"}`, 400)
			return
		}
		s.audio = audio
		fmt.Fprint(w, `{"done":false,"id":"f8d0op","createdAt":"2026-03-01T12:00:00Z","createdBy":"ajesa","modifiedAt":"2026-03-01T12:00:00Z"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/operations/f8d0op":
		s.polls++
		switch {
		case s.polls < 3:
			fmt.Fprint(w, `{"done":false,"id":"f8d0op"}`)
		case s.opError:
			fmt.Fprint(w, `{"done":true,"id":"f8d0op","error":{"code":3,"message":"audio is too short"}}`)
		default:
			fmt.Fprint(w, `{"done":true,"id":"f8d0op","response":{"@type":"type.googleapis.com/speechkit.stt.v3.RecognizeFileResponse"}}`)
		}
	case r.Method == http.MethodGet && r.URL.Path == "/stt/v3/getRecognition":
		if r.URL.Query().Get("operationId") != "f8d0op" || s.polls < 3 {
			http.Error(w, `{"code":5,"message":"not found"}`, 404)
			return
		}
		for _, l := range s.lines {
			fmt.Fprintln(w, l)
		}
	default:
		http.NotFound(w, r)
	}
}

func final(idx, start, end int, ch, text string) string {
	return fmt.Sprintf(`{"result":{"sessionUuid":{"uuid":"u1"},"audioCursors":{"finalIndex":"%d"},"final":{"alternatives":[{"words":[],"text":%q,"startTimeMs":"%d","endTimeMs":"%d","confidence":0}],"channelTag":%q},"channelTag":%q}}`, idx, text, start, end, ch, ch)
}

func refinement(idx, start, end int, ch, text string) string {
	return fmt.Sprintf(`{"result":{"finalRefinement":{"finalIndex":"%d","normalizedText":{"alternatives":[{"text":%q,"startTimeMs":"%d","endTimeMs":"%d"}],"channelTag":%q}},"channelTag":%q}}`, idx, text, start, end, ch, ch)
}

func writeWAV(t *testing.T, pcm []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "call.wav")
	if err := wavgen.Write(p, pcm); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestYandexAsyncRecognition(t *testing.T) {
	sk := &speechKit{t: t, lines: []string{
		`{"result":{"partial":{"alternatives":[{"text":"здравствуйте я"}],"channelTag":"0"},"channelTag":"0"}}`,
		final(0, 0, 1800, "0", "здравствуйте я хочу заказать доставку"),
		refinement(0, 0, 1800, "0", "Здравствуйте, я хочу заказать доставку."),
		`{"result":{"statusCode":{"codeType":"WORKING","message":""},"channelTag":"0"}}`,
		final(1, 2100, 3900, "0", "доставка будет завтра"),
	}}
	srv := httptest.NewServer(sk)
	defer srv.Close()
	path := writeWAV(t, wavgen.Tone(4*time.Second, 300, 0.3))
	y := &Yandex{APIKey: "test-key", FolderID: "b1gfolder", Languages: []string{"ru-RU"},
		STTURL: srv.URL, OperationURL: srv.URL, Poll: time.Millisecond}
	tr, err := y.Transcribe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	if string(sk.audio) != string(want) {
		t.Fatal("the service did not receive the WAV file as content")
	}
	if sk.polls != 3 {
		t.Fatalf("polled %d times, want 3 (until done)", sk.polls)
	}
	if got := tr.Text(); got != "Здравствуйте, я хочу заказать доставку.\nдоставка будет завтра" {
		t.Fatalf("text %q", got)
	}
	if tr.Segments[1].Start != 2100*time.Millisecond || tr.Length != 4*time.Second {
		t.Fatalf("segments %+v length %v", tr.Segments, tr.Length)
	}
	if strings.Contains(fmt.Sprint(y.LogValue()), "test-key") {
		t.Fatal("LogValue shows the key")
	}
}

func TestYandexErrors(t *testing.T) {
	sk := &speechKit{t: t, opError: true}
	srv := httptest.NewServer(sk)
	defer srv.Close()
	path := writeWAV(t, wavgen.Tone(time.Second, 300, 0.3))
	y := &Yandex{APIKey: "test-key", FolderID: "b1gfolder", Languages: []string{"ru-RU"}, STTURL: srv.URL, OperationURL: srv.URL, Poll: time.Millisecond}
	_, err := y.Transcribe(context.Background(), path)
	if !errors.Is(err, ErrRecognition) || !strings.Contains(err.Error(), "audio is too short") {
		t.Fatalf("operation error: %v", err)
	}
	bad := &Yandex{APIKey: "wrong", STTURL: srv.URL, OperationURL: srv.URL}
	_, err = bad.Transcribe(context.Background(), path)
	if !errors.Is(err, ErrRecognition) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("auth error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := y.Transcribe(ctx, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestLocalFindsSpeechStretches(t *testing.T) {
	// 1 s silence, 1 s "speech", 1 s silence, 0.5 s speech, 0.5 s silence.
	var pcm []byte
	pcm = append(pcm, wavgen.Silence(time.Second)...)
	pcm = append(pcm, wavgen.Tone(time.Second, 300, 0.3)...)
	pcm = append(pcm, wavgen.Silence(time.Second)...)
	pcm = append(pcm, wavgen.Tone(500*time.Millisecond, 500, 0.3)...)
	pcm = append(pcm, wavgen.Silence(500*time.Millisecond)...)
	tr, err := Local{}.Transcribe(context.Background(), writeWAV(t, pcm))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Segments) != 2 || tr.Text() != "" {
		t.Fatalf("segments %+v", tr.Segments)
	}
	near := func(got, want time.Duration) bool {
		d := got - want
		return d < 40*time.Millisecond && d > -40*time.Millisecond
	}
	if !near(tr.Segments[0].Start, time.Second) || !near(tr.Segments[0].End, 2*time.Second) ||
		!near(tr.Segments[1].Start, 3*time.Second) || !near(tr.Segments[1].End, 3500*time.Millisecond) || tr.Length != 4*time.Second {
		t.Fatalf("segments %+v length %v", tr.Segments, tr.Length)
	}
	if d := Describe(tr); d != "no transcript; speech in 2 segment(s), 1.5 s of 4.0 s" {
		t.Fatalf("describe %q", d)
	}
	silent, err := Local{}.Transcribe(context.Background(), writeWAV(t, wavgen.Silence(time.Second)))
	if err != nil || len(silent.Segments) != 0 || Describe(silent) != "no speech detected in 1.0 s of audio" {
		t.Fatalf("silence: %+v %v", silent, err)
	}
	if _, err := (Local{}).Transcribe(context.Background(), filepath.Join(t.TempDir(), "none.wav")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestJoin(t *testing.T) {
	a := Transcript{Segments: []Segment{{0, time.Second, "", "one"}}, Length: 2 * time.Second}
	b := Transcript{Segments: []Segment{{0, time.Second, "", "two"}}, Length: time.Second}
	j := a.Join(b)
	if j.Length != 3*time.Second || j.Segments[1].Start != 2*time.Second || j.Text() != "one\ntwo" {
		t.Fatalf("%+v", j)
	}
}

func TestSummarize(t *testing.T) {
	text := "Hello, this is Anna from the delivery service. " +
		"I am calling about your delivery order. " +
		"The weather is nice today. " +
		"Your delivery order will arrive tomorrow before noon. " +
		"Thank you, goodbye."
	got := Summarize(text, 2)
	want := "I am calling about your delivery order. Your delivery order will arrive tomorrow before noon."
	if got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	if s := Summarize("Short call.", 2); s != "Short call." {
		t.Fatalf("short: %q", s)
	}
	ru := "Здравствуйте, это служба доставки.\nВаш заказ доставки оформлен.\nКакая сегодня погода.\nЗаказ доставки придёт завтра."
	if s := Summarize(ru, 2); s != "Ваш заказ доставки оформлен. Заказ доставки придёт завтра." {
		t.Fatalf("ru: %q", s)
	}
}
