package service_test

import (
	"errors"
	"net/http"
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
		PBX:      config.NewPBX("ami", map[string]string{"address": "127.0.0.1:1", "username": "a", "secret": "b"}),
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
	if !errors.Is(err, delivery.ErrSecret) || !strings.Contains(err.Error(), "callhook.ini:7: [webhook.crm] signing_secret:") {
		t.Fatalf("err = %v", err)
	}
	// The old secret of a rotation is checked too, and named by its key.
	_, err = service.New(conf(config.Webhook{Name: "crm", URL: u, Dialect: "3cx", Line: 7, AllowPrivate: true,
		SigningSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SigningSecretPrevious: "whsec_c2hvcnQ=", Timeout: time.Second}), service.Options{})
	if !errors.Is(err, delivery.ErrSecret) || !strings.Contains(err.Error(), "callhook.ini:7: [webhook.crm] signing_secret_previous: parse previous signing secret") {
		t.Fatalf("previous secret: err = %v", err)
	}
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhlIG9sZCBzZWNyZXQsIDI0IGJ5dGVz"}
	svc, err := service.New(conf(config.Webhook{Name: "crm", URL: u, Dialect: "3cx", Line: 7, AllowPrivate: true,
		SigningSecret: config.Secret(secrets[0]), SigningSecretPrevious: config.Secret(secrets[1]), Timeout: time.Second}), service.Options{})
	if err != nil {
		t.Fatalf("two valid secrets: %v", err)
	}
	defer svc.Close()
	// Both secrets sign: a receiver holding either one verifies.
	h, now := http.Header{}, time.Now()
	svc.Outbox.Receivers().Policy("crm").Signer.Sign(h, "w1", now, "/hook?event=ringing", nil)
	for _, sec := range secrets {
		one, _ := delivery.NewSigner(sec)
		if err := one.Verify(h, "/hook?event=ringing", nil, now, time.Minute); err != nil {
			t.Errorf("receiver with %.10s…: %v", sec, err)
		}
	}
}
