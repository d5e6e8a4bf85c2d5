package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
)

func TestDeliverySection(t *testing.T) {
	ini := pbxOK + `
[delivery]
dir            = data
retry_attempts = 8
retry_min      = 1s
retry_max      = 5m
admin_listen   = 127.0.0.1:9100
admin_token    = 0123456789abcdef0123
fsync          = yes

[webhook.crm]
url            = http://127.0.0.1:9000/hook
dialect        = 3cx
allow_private  = true
retry_attempts = 3
`
	dir := t.TempDir()
	path := filepath.Join(dir, "callhook.ini")
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Delivery
	if d.Dir != filepath.Join(dir, "data") || !d.Fsync || d.AdminListen != "127.0.0.1:9100" || d.AdminToken.Reveal() != "0123456789abcdef0123" {
		t.Errorf("delivery = %+v", d)
	}
	if d.Retry != (config.Retry{Attempts: 8, Min: time.Second, Max: 5 * time.Minute}) {
		t.Errorf("retry = %+v", d.Retry)
	}
	w := cfg.Webhooks[0]
	if !w.AllowPrivate || w.Retry.Attempts != 3 {
		t.Errorf("webhook = %+v", w)
	}
}

func TestDeliveryProblems(t *testing.T) {
	for _, tc := range []struct{ ini, want string }{
		{"[delivery]\nadmin_listen = 127.0.0.1:9100\n", "callhook.ini:7: [delivery] admin_token: missing (required with admin_listen"},
		{"[delivery]\nadmin_token = short\n", "callhook.ini:7: [delivery] admin_token: token too short"},
		{"[delivery]\nretry_attempts = 0\n", "callhook.ini:7: [delivery] retry_attempts: want a whole number 1-1000"},
		{"[delivery]\nretry_min = 1s\nretry_max = 10ms\n", "callhook.ini:6: [delivery] retry_max: 10ms is shorter than retry_min 1s"},
		{"[delivery]\nfsync = maybe\n", `callhook.ini:7: [delivery] fsync: want true or false, got "maybe"`},
		{"[webhook.b]\nurl = http://x\ndialect = 3cx\nallow_private = sure\n", `callhook.ini:9: [webhook.b] allow_private: want true or false`},
	} {
		_, err := config.Parse("callhook.ini", strings.NewReader(pbxOK+tc.ini+"[webhook.a]\nurl = http://x\ndialect = 3cx\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.ini, err, tc.want)
		}
	}
}

// The specification's minimal configuration delivers to a receiver on
// 127.0.0.1: a loopback address written in the file is allowed unless the
// file says otherwise; private addresses and names are not.
func TestLoopbackReceiverWrittenInFile(t *testing.T) {
	tests := []struct {
		url, extra string
		allowed    bool
	}{
		{"http://127.0.0.1:9000/hook", "", true},
		{"http://[::1]:9000/hook", "", true},
		{"http://localhost:9000/hook", "", true},
		{"http://127.0.0.1:9000/hook", "allow_private = false\n", false},
		{"http://10.0.0.5/hook", "", false},
		{"http://10.0.0.5/hook", "allow_private = true\n", true},
		{"http://crm.example/hook", "", false},
	}
	for _, tt := range tests {
		ini := "[pbx]\ntype = ami\naddress = 127.0.0.1:5038\nusername = admin\nsecret = secret\n\n[webhook.crm]\nurl = " + tt.url + "\ndialect = 3cx\n" + tt.extra
		cfg, err := config.Parse("callhook.ini", strings.NewReader(ini))
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if got := cfg.Webhooks[0].AllowPrivate; got != tt.allowed {
			t.Errorf("%s %q: AllowPrivate = %v, want %v", tt.url, tt.extra, got, tt.allowed)
		}
	}
}
