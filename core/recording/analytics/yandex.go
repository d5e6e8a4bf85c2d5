package analytics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"
)

// Yandex recognises speech with Yandex SpeechKit's asynchronous
// recognition, API v3 (REST), which is what the 3CX module's analytics use:
//
//  1. POST {STT}/stt/v3/recognizeFileAsync with the WAV inline ("content",
//     base64) and recognitionModel.audioFormat.containerAudio WAV; the
//     answer is an Operation {"id":…, "done":false}.
//  2. GET {Operation}/operations/{id} until "done" is true; an "error"
//     member ({"code", "message"}) ends it.
//  3. GET {STT}/stt/v3/getRecognition?operationId={id}: a stream of JSON
//     objects {"result": StreamingResponse}, one per line; the "final"
//     ones (or their "finalRefinement.normalizedText") carry the text.
//
// Authorization is "Api-Key <key>" or "Bearer <IAM token>"; FolderID, when
// set, goes in x-folder-id (needed with a user's IAM token). The older v2
// longRunningRecognize takes audio only as an Object Storage link, which
// the engine does not have, so v3 with inline content is used.
type Yandex struct {
	APIKey   string
	IAMToken string
	FolderID string
	// Model: "general" by default.
	Model string
	// Languages restrict recognition (e.g. "ru-RU", "tr-TR"); empty lets
	// the service decide.
	Languages []string
	// STTURL and OperationURL: the service endpoints; defaults
	// https://stt.api.cloud.yandex.net and
	// https://operation.api.cloud.yandex.net. Tests point them at a double.
	STTURL, OperationURL string
	// Poll: operation polling interval; default 2 s (the service needs
	// about 10 s per minute of audio).
	Poll time.Duration
	// Client: default http.DefaultClient.
	Client *http.Client
	Logger *slog.Logger
}

const (
	yandexSTT       = "https://stt.api.cloud.yandex.net"
	yandexOperation = "https://operation.api.cloud.yandex.net"
)

// LogValue hides the credentials.
func (y *Yandex) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", "yandex"), slog.String("stt", y.sttURL()), slog.Bool("api_key", y.APIKey != ""))
}

func (y *Yandex) sttURL() string {
	if y.STTURL != "" {
		return y.STTURL
	}
	return yandexSTT
}

func (y *Yandex) opURL() string {
	if y.OperationURL != "" {
		return y.OperationURL
	}
	return yandexOperation
}

func (y *Yandex) client() *http.Client {
	if y.Client != nil {
		return y.Client
	}
	return http.DefaultClient
}

// yandexOperationResp is the Operation object (api-design-guide).
type yandexOperationResp struct {
	ID    string `json:"id"`
	Done  bool   `json:"done"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type yandexAlternatives struct {
	Alternatives []struct {
		Text        string `json:"text"`
		StartTimeMs string `json:"startTimeMs"`
		EndTimeMs   string `json:"endTimeMs"`
	} `json:"alternatives"`
	ChannelTag string `json:"channelTag"`
}

type yandexStreamingResponse struct {
	AudioCursors struct {
		FinalIndex string `json:"finalIndex"`
	} `json:"audioCursors"`
	Final           *yandexAlternatives `json:"final"`
	FinalRefinement *struct {
		FinalIndex     string              `json:"finalIndex"`
		NormalizedText *yandexAlternatives `json:"normalizedText"`
	} `json:"finalRefinement"`
	ChannelTag string `json:"channelTag"`
}

// Transcribe sends the file, waits for the operation and reads the result.
func (y *Yandex) Transcribe(ctx context.Context, wavPath string) (Transcript, error) {
	audio, err := os.ReadFile(wavPath)
	if err != nil {
		return Transcript{}, fmt.Errorf("transcribe %s: %w", wavPath, err)
	}
	op, err := y.start(ctx, audio)
	if err != nil {
		return Transcript{}, fmt.Errorf("transcribe %s: %w", wavPath, err)
	}
	if err := y.wait(ctx, op); err != nil {
		return Transcript{}, fmt.Errorf("transcribe %s: operation %s: %w", wavPath, op.ID, err)
	}
	t, err := y.result(ctx, op.ID)
	if err != nil {
		return Transcript{}, fmt.Errorf("transcribe %s: operation %s: %w", wavPath, op.ID, err)
	}
	if len(audio) > 44 {
		t.Length = time.Duration(len(audio)-44) / 2 * time.Second / 8000
	}
	return t, nil
}

func (y *Yandex) start(ctx context.Context, audio []byte) (yandexOperationResp, error) {
	model := map[string]any{
		"model":               y.Model,
		"audioFormat":         map[string]any{"containerAudio": map[string]any{"containerAudioType": "WAV"}},
		"audioProcessingType": "FULL_DATA",
	}
	if y.Model == "" {
		model["model"] = "general"
	}
	if len(y.Languages) > 0 {
		model["languageRestriction"] = map[string]any{"restrictionType": "WHITELIST", "languageCode": y.Languages}
	}
	body, _ := json.Marshal(map[string]any{
		"content":          base64.StdEncoding.EncodeToString(audio),
		"recognitionModel": model,
	})
	var op yandexOperationResp
	if err := y.do(ctx, http.MethodPost, y.sttURL()+"/stt/v3/recognizeFileAsync", body, &op); err != nil {
		return op, fmt.Errorf("recognizeFileAsync: %w", err)
	}
	if op.ID == "" {
		return op, fmt.Errorf("recognizeFileAsync: %w: no operation id", ErrRecognition)
	}
	return op, nil
}

func (y *Yandex) wait(ctx context.Context, op yandexOperationResp) error {
	poll := y.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if op.Error != nil {
			return fmt.Errorf("%w: code %d: %s", ErrRecognition, op.Error.Code, op.Error.Message)
		}
		if op.Done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		id := op.ID
		op = yandexOperationResp{}
		if err := y.do(ctx, http.MethodGet, y.opURL()+"/operations/"+url.PathEscape(id), nil, &op); err != nil {
			return fmt.Errorf("get operation: %w", err)
		}
	}
}

func (y *Yandex) result(ctx context.Context, id string) (Transcript, error) {
	resp, err := y.send(ctx, http.MethodGet, y.sttURL()+"/stt/v3/getRecognition?operationId="+url.QueryEscape(id), nil)
	if err != nil {
		return Transcript{}, fmt.Errorf("getRecognition: %w", err)
	}
	defer resp.Body.Close()
	type utt struct {
		seg   Segment
		index int
	}
	finals := map[string]*utt{} // channel/finalIndex -> utterance
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var line struct {
			Result yandexStreamingResponse `json:"result"`
		}
		if err := dec.Decode(&line); err == io.EOF {
			break
		} else if err != nil {
			return Transcript{}, fmt.Errorf("getRecognition: read result: %w", err)
		}
		r := line.Result
		switch {
		case r.Final != nil && len(r.Final.Alternatives) > 0:
			key := r.Final.ChannelTag + "/" + r.AudioCursors.FinalIndex
			if _, seen := finals[key]; !seen { // a refinement may have come first
				finals[key] = &utt{seg: segment(r.Final), index: atoi(r.AudioCursors.FinalIndex)}
			}
		case r.FinalRefinement != nil && r.FinalRefinement.NormalizedText != nil && len(r.FinalRefinement.NormalizedText.Alternatives) > 0:
			n := r.FinalRefinement.NormalizedText
			finals[n.ChannelTag+"/"+r.FinalRefinement.FinalIndex] = &utt{seg: segment(n), index: atoi(r.FinalRefinement.FinalIndex)}
		}
	}
	list := make([]*utt, 0, len(finals))
	for _, u := range finals {
		list = append(list, u)
	}
	sort.Slice(list, func(a, b int) bool {
		if list[a].seg.Start != list[b].seg.Start {
			return list[a].seg.Start < list[b].seg.Start
		}
		if list[a].seg.Channel != list[b].seg.Channel {
			return list[a].seg.Channel < list[b].seg.Channel
		}
		return list[a].index < list[b].index
	})
	var t Transcript
	for _, u := range list {
		t.Segments = append(t.Segments, u.seg)
	}
	return t, nil
}

func segment(a *yandexAlternatives) Segment {
	alt := a.Alternatives[0]
	return Segment{
		Start:   time.Duration(atoi(alt.StartTimeMs)) * time.Millisecond,
		End:     time.Duration(atoi(alt.EndTimeMs)) * time.Millisecond,
		Channel: a.ChannelTag,
		Text:    alt.Text,
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (y *Yandex) do(ctx context.Context, method, u string, body []byte, out any) error {
	resp, err := y.send(ctx, method, u, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// send performs one request and turns a non-2xx answer into an error
// carrying the service's message.
func (y *Yandex) send(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case y.APIKey != "":
		req.Header.Set("Authorization", "Api-Key "+y.APIKey)
	case y.IAMToken != "":
		req.Header.Set("Authorization", "Bearer "+y.IAMToken)
	}
	if y.FolderID != "" {
		req.Header.Set("x-folder-id", y.FolderID)
	}
	resp, err := y.client().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s %s: %s: %s", ErrRecognition, method, req.URL.Path, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}
