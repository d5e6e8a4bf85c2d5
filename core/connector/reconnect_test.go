package connector_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector"
)

func TestBackoffBounds(t *testing.T) {
	b := connector.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	lo := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, l := range lo {
		l *= time.Millisecond
		d := b.Next()
		if d < l || d > time.Second || d > l*3/2 {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, d, l, min(l*3/2, time.Second))
		}
	}
	b.Reset()
	if d := b.Next(); d > 150*time.Millisecond {
		t.Errorf("after reset wait = %s", d)
	}
}

func TestSecretNeverShows(t *testing.T) {
	s := connector.Secret("hunter2")
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "secret", s, "in", struct{ S connector.Secret }{s})
	js, err := json.Marshal(struct{ S connector.Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{
		"%s": fmt.Sprintf("%s", s), "%v": fmt.Sprintf("%v", s), "%#v": fmt.Sprintf("%#v", s),
		"slog": logged.String(), "json": string(js),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s shows the secret: %s", what, out)
		}
	}
	if string(s) != "hunter2" {
		t.Errorf("string(s) = %q", string(s))
	}
}
