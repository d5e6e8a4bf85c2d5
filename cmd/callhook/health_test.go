package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/service"
)

// callhook health asks the admin listener without a token: live while the
// process serves, not ready (exit 1, with the reason) while the PBX is
// away; the address comes from --admin or the .ini.
func TestHealthCommand(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9/hook")
	cfg := &config.Config{
		File:     "test.ini",
		PBX:      config.NewPBX("ami", map[string]string{"address": "127.0.0.1:1", "username": "a", "secret": "b"}),
		Delivery: config.Delivery{Memory: true, AdminListen: "127.0.0.1:0", AdminToken: "0123456789abcdef-admin"},
		Webhooks: []config.Webhook{{Name: "crm", URL: u, Dialect: "3cx", AllowPrivate: true, Timeout: time.Second}},
	}
	svc, err := service.New(cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	health := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), append([]string{"health"}, args...), &out, &errb)
		return out.String(), err
	}
	if out, err := health("--admin", svc.AdminAddr(), "--live"); err != nil || out != "healthz: ok\n" {
		t.Errorf("--live: %q, %v", out, err)
	}
	_, err = health("--admin", svc.AdminAddr())
	if err == nil || !strings.Contains(err.Error(), "not ready: PBX 127.0.0.1:1 (not connected yet)") {
		t.Errorf("readiness with the PBX away: %v", err)
	}
	// From the .ini: a wildcard admin_listen is asked on loopback.
	port := svc.AdminAddr()[strings.LastIndexByte(svc.AdminAddr(), ':')+1:]
	ini := filepath.Join(t.TempDir(), "callhook.ini")
	os.WriteFile(ini, []byte(fmt.Sprintf("[pbx]\ntype = ami\naddress = 127.0.0.1:1\nusername = a\nsecret = b\n"+
		"[webhook.crm]\nurl = http://127.0.0.1:9/hook\ndialect = 3cx\n[delivery]\nmemory = yes\nadmin_listen = 0.0.0.0:%s\nadmin_token = 0123456789abcdef-admin\n", port)), 0o600)
	if out, err := health("--config", ini, "--live"); err != nil || out != "healthz: ok\n" {
		t.Errorf("--config: %q, %v", out, err)
	}
	if _, err := health("--admin", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "engine not answering") {
		t.Errorf("nothing listening: %v", err)
	}
}
