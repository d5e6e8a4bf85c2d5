package service_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/connector/ami/amitest"
	"github.com/callhook/callhook/core/dialect"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhook"
	"github.com/callhook/callhook/core/webhooktest"
)

// A dialect is its own package: registered here, from a test, with no
// other file of callhook changed, the configuration checks its key and
// the engine delivers what it renders.
func init() {
	dialect.Register(dialect.Spec{
		Name: "plaintext", Doc: "one line of text per call event (a test's own dialect)",
		Keys: map[string]dialect.Key{"prefix": {Doc: "text before each line", Check: func(v string) error {
			if strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("prefix %q spans lines", v)
			}
			return nil
		}}},
		New: func(w dialect.Webhook) (dialect.Renderer, error) {
			prefix := w.Option("prefix")
			return dialect.RendererFunc(func(ev callmodel.Event) (webhook.Request, bool) {
				if ev.Kind.IsStatus() {
					return webhook.Request{}, false
				}
				return webhook.Request{ID: w.Name + "-" + ev.Key(), Receiver: w.Name, CallKey: ev.OrderKey(), Method: http.MethodPost,
					URL: w.URL.String(), Header: http.Header{"Content-Type": {"text/plain"}},
					Body: fmt.Appendf(nil, "%s%s %s link %d", prefix, ev.Kind, ev.User, ev.ID.Link)}, true
			}), nil
		},
	})
}

func TestRegisteredDialect(t *testing.T) {
	capture, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The capture's events, without its banner and login response, then a
	// barrier.
	_, events, _ := strings.Cut(string(capture), "Message: Authentication accepted\r\n\r\n")
	src, err := amitest.NewServer([]byte(events + "Event: UserEvent\r\nUserEvent: CallhookSync\r\nToken: done\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recv := webhooktest.NewServer()
	defer recv.Close()
	ini := fmt.Sprintf("[pbx]\ntype = ami\naddress = %s\nusername = admin\nsecret = secret\ntimezone = UTC\n"+
		"[delivery]\nmemory = true\n"+
		"[webhook.notes]\nurl = %s/notes\ndialect = plaintext\nprefix = call:\n", src.Addr(), recv.URL())

	bad := strings.Replace(ini, "prefix = call:", "prefx = call:", 1)
	if _, err := config.Parse("notes.ini", strings.NewReader(bad)); err == nil ||
		!strings.Contains(err.Error(), `notes.ini:12: [webhook.notes] prefx: unknown key (did you mean "prefix"?`) {
		t.Fatalf("misspelt dialect key: %v", err)
	}
	cfg, err := config.Parse("notes.ini", strings.NewReader(ini))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	if err := svc.WaitSync(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	var got []string
	for _, r := range recv.Requests() {
		got = append(got, string(r.Body))
	}
	want := []string{"call:initiated  link 0", "call:ringing 101 link 0", "call:answered 101 link 1", "call:ended 101 link 1", "call:record 101 link 1"}
	var calls []string
	for _, g := range got {
		if strings.Contains(g, "initiated") || strings.Contains(g, "ringing") || strings.Contains(g, "answered") || strings.Contains(g, "ended") || strings.Contains(g, "record ") {
			calls = append(calls, g)
		}
	}
	if strings.Join(calls, "|") != strings.Join(want, "|") {
		t.Errorf("the registered dialect's receiver got %q, want %q among them", got, want)
	}
}
