package service_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/service"
)

func conf(hook config.Webhook) *config.Config {
	return &config.Config{
		File:     "callhook.ini",
		PBX:      config.PBX{Type: "ami", Address: "127.0.0.1:1", Username: "a", Secret: "b"},
		Delivery: config.Delivery{Memory: true},
		Webhooks: []config.Webhook{hook},
	}
}

// A receiver on a private address is refused at start, and the error
// names the file, line, section and the key that allows it.
func TestPrivateReceiverRefused(t *testing.T) {
	for _, raw := range []string{"http://127.0.0.1:9000/hook", "http://10.0.0.5/hook", "http://169.254.169.254/latest", "http://localhost:8080/"} {
		u, _ := url.Parse(raw)
		_, err := service.New(conf(config.Webhook{Name: "crm", URL: u, Dialect: "3cx", Line: 7, Timeout: time.Second}), service.Options{})
		if !errors.Is(err, delivery.ErrForbiddenAddress) || !strings.Contains(err.Error(), "callhook.ini:7: [webhook.crm] url") ||
			!strings.Contains(err.Error(), "allow_private = true") {
			t.Errorf("%s: err = %v", raw, err)
		}
	}
	u, _ := url.Parse("http://127.0.0.1:9000/hook")
	svc, err := service.New(conf(config.Webhook{Name: "crm", URL: u, Dialect: "3cx", Line: 7, AllowPrivate: true, Timeout: time.Second}), service.Options{})
	if err != nil {
		t.Fatalf("allowed receiver: %v", err)
	}
	svc.Close()
}

func TestBadSigningSecret(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9000/hook")
	_, err := service.New(conf(config.Webhook{Name: "crm", URL: u, Dialect: "3cx", Line: 7, AllowPrivate: true,
		SigningSecret: "not-base64!", Timeout: time.Second}), service.Options{})
	if !errors.Is(err, delivery.ErrSecret) || !strings.Contains(err.Error(), "callhook.ini:7: [webhook.crm] signing_secret") {
		t.Fatalf("err = %v", err)
	}
}
