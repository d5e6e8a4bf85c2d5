package recording_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/recording"
	"github.com/callhook/callhook/core/recording/download"
	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/core/webhooktest"
)

const linkKey = "test-link-key-0123456789abcdef"

// recordingsConfig is a [recordings] section on temporary folders, the
// download server on a free loopback port.
func recordingsConfig(t *testing.T) *config.Recordings {
	dir := t.TempDir()
	return &config.Recordings{
		Line:         1,
		Folder:       filepath.Join(dir, "mp3"),
		MonitorDir:   filepath.Join(dir, "monitor"),
		Days:         30,
		Hour:         3,
		Bitrate:      32,
		Listen:       "127.0.0.1:0",
		LinkKey:      config.Secret(linkKey),
		LinkLifetime: time.Hour,
		Placement:    "query",
		Analytics:    "local",
		WaitTimeout:  10 * time.Second,
	}
}

// posts splits what the receiver got into the recording and analytics
// POSTs and the other webhooks, keeping arrival order.
type posts struct {
	recordings, analytics []webhooktest.Captured
	order                 []string // "recording" / "analytics" in arrival order
}

func split(reqs []webhooktest.Captured) posts {
	var p posts
	for _, r := range reqs {
		if r.Method != http.MethodPost {
			continue
		}
		switch {
		case bytes.HasPrefix(r.Body, []byte(`{"FILES":`)):
			p.recordings = append(p.recordings, r)
			p.order = append(p.order, "recording")
		case bytes.HasPrefix(r.Body, []byte(`{"TEXT":`)):
			p.analytics = append(p.analytics, r)
			p.order = append(p.order, "analytics")
		}
	}
	return p
}

// waitPosts polls the receiver until it has n analytics POSTs (each comes
// after its recording POST).
func waitPosts(t *testing.T, recv *webhooktest.Server, n int, within time.Duration) posts {
	t.Helper()
	var p posts
	waitfor.Condition(t, within, fmt.Sprintf("%d analytics POSTs", n), func() string {
		if p = split(recv.Requests()); len(p.analytics) >= n {
			return ""
		}
		return fmt.Sprintf("%d recording and %d analytics POSTs; all requests: %s", len(p.recordings), len(p.analytics), describe(recv.Requests()))
	})
	return p
}

func describe(reqs []webhooktest.Captured) string {
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString("\n  " + r.Method + " ?" + r.RawQuery + " " + string(r.Body))
	}
	return b.String()
}

func files(t *testing.T, r webhooktest.Captured) []string {
	t.Helper()
	var body struct{ FILES []string }
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("recording POST body %s: %v", r.Body, err)
	}
	return body.FILES
}

func client(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// download fetches link over HTTPS and checks it is an MP3 file whose
// duration is within 10% of want.
func downloadMP3(t *testing.T, c *http.Client, link string, want time.Duration) {
	t.Helper()
	resp, err := c.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200", link, resp.StatusCode)
	}
	info, err := recording.ReadMP3(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not MP3 frames: %v", link, err)
	}
	if info.Frames == 0 || math.Abs(float64(info.Duration-want)) > 0.1*float64(want) {
		t.Errorf("%s: %d frames, %s of audio, want %s ±10%%", path.Base(link), info.Frames, info.Duration, want)
	}
	t.Logf("%s: %d frames, %s (talk %s), %d kbit/s", path.Base(strings.Split(link, "?")[0]), info.Frames, info.Duration, want, info.Bitrate)
}

// refused checks that a tampered and an expired link get 403.
func refused(t *testing.T, c *http.Client, base, link string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get(download.TokenParam)
	// Change one character inside the MAC (the last base64 character
	// carries padding bits a decoder may ignore).
	i := len(tok) - 10
	flip := "A"
	if tok[i] == 'A' {
		flip = "B"
	}
	tampered := *u
	tampered.RawQuery = url.Values{download.TokenParam: {tok[:i] + flip + tok[i+1:]}}.Encode()
	signer, err := download.NewSigner([]byte(linkKey), base, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired := signer.URLUntil(path.Base(u.Path), time.Now().Add(-time.Minute))
	longer := signer.URLUntil(path.Base(u.Path), time.Now().Add(30*24*time.Hour))
	expiryEdited := *u
	_, mac, _ := strings.Cut(tok, ".")
	expiryEdited.RawQuery = url.Values{download.TokenParam: {"9999999999." + mac}}.Encode()
	for name, l := range map[string]string{"tampered": tampered.String(), "expired": expired, "expiry edited": expiryEdited.String()} {
		resp, err := c.Get(l)
		if err != nil {
			t.Fatalf("GET %s link: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s link: %d, want 403", name, resp.StatusCode)
		}
	}
	// The same key signs a fresh link that works: the 403s were about
	// the tokens, not the file.
	resp, err := c.Get(longer)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("freshly signed link: %d, want 200", resp.StatusCode)
	}
}
