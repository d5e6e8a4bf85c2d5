package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
)

const hookOK = "[webhook.crm]\nurl = http://127.0.0.1:9000/hook\ndialect = 3cx\n"

func TestRecordingsSection(t *testing.T) {
	ini := pbxOK + hookOK + `
[recordings]
folder        = rec
days          = 14
hour          = 2
bitrate       = 48
lame          = /usr/bin/lame
listen        = 127.0.0.1:5001
cert_file     = cert.pem
key_file      = key.pem
base_url      = https://pbx.example.com:5001/webapi/recording
link_key      = 0123456789abcdef0123
link_lifetime = 48h
full_fields   = yes
id_placement  = body
webhooks      = crm
analytics     = yandex
yandex_api_key   = AQVN-secret
yandex_languages = ru-RU, tr-TR
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
	r := cfg.Recordings
	if !r.Enabled() || r.Folder != filepath.Join(dir, "rec") || r.Days != 14 || r.Hour != 2 || r.Bitrate != 48 ||
		r.Lame != "/usr/bin/lame" || r.Listen != "127.0.0.1:5001" || r.CertFile != "cert.pem" || r.KeyFile != "key.pem" {
		t.Errorf("recordings = %+v", r)
	}
	if r.BaseURL.String() != "https://pbx.example.com:5001/webapi/recording/" || r.LinkKey.Reveal() != "0123456789abcdef0123" ||
		r.LinkLifetime != 48*time.Hour || !r.FullFields || r.Placement != "body" {
		t.Errorf("links = %v %v %v %v %v", r.BaseURL, r.LinkKey, r.LinkLifetime, r.FullFields, r.Placement)
	}
	if len(r.Webhooks) != 1 || r.Webhooks[0] != "crm" || r.Analytics != "yandex" || r.YandexAPIKey.Reveal() != "AQVN-secret" ||
		strings.Join(r.YandexLanguages, "|") != "ru-RU|tr-TR" {
		t.Errorf("analytics = %+v", r)
	}
	if strings.Contains(r.YandexAPIKey.String(), "AQVN") {
		t.Error("api key not redacted")
	}
}

func TestRecordingsDefaults(t *testing.T) {
	cfg, err := config.Parse("callhook.ini", strings.NewReader(pbxOK+hookOK+"[recordings]\nfolder = /srv/rec\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Recordings
	if r.Days != 30 || r.Hour != 3 || r.Bitrate != 32 || r.Listen != ":5001" || r.LinkLifetime != 7*24*time.Hour ||
		r.Placement != "query" || r.Analytics != "" || r.BaseURL != nil || r.MonitorDir != "/var/spool/asterisk/monitor" {
		t.Errorf("defaults = %+v", r)
	}
	cfg, err = config.Parse("callhook.ini", strings.NewReader(pbxOK+hookOK))
	if err != nil || cfg.Recordings.Enabled() {
		t.Errorf("without section: %+v, %v", cfg.Recordings, err)
	}
}

// TestRecordingsProblems: every mistake names file:line, section and key.
// The [recordings] header is on line 10 (pbxOK is 5 lines, hookOK 3, then a blank line).
func TestRecordingsProblems(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"days = 3\n", "callhook.ini:10: [recordings] folder: missing (required)"},
		{"folder = r\ndays = -1\n", `callhook.ini:12: [recordings] days: want a whole number 0-36500, got "-1"`},
		{"folder = r\nhour = 24\n", `callhook.ini:12: [recordings] hour: want a whole number 0-23, got "24"`},
		{"folder = r\nbitrate = 4\n", `callhook.ini:12: [recordings] bitrate: want a whole number 8-320`},
		{"folder = r\nlisten = nowhere\n", `callhook.ini:12: [recordings] listen: want host:port`},
		{"folder = r\ncert_file = c.pem\n", "callhook.ini:12: [recordings] key_file: missing (cert_file needs its key_file)"},
		{"folder = r\nkey_file = k.pem\n", "callhook.ini:12: [recordings] cert_file: missing (key_file needs its cert_file)"},
		{"folder = r\nbase_url = http://pbx/rec/\n", `callhook.ini:12: [recordings] base_url: want an absolute https:// URL`},
		{"folder = r\nbase_url = https://pbx/rec/?a=1\n", `callhook.ini:12: [recordings] base_url: URL "https://pbx/rec/?a=1": no query`},
		{"folder = r\nlink_key = short\n", "callhook.ini:12: [recordings] link_key: key too short (5 characters, want at least 16)"},
		{"folder = r\nlink_lifetime = forever\n", `callhook.ini:12: [recordings] link_lifetime: invalid duration "forever"`},
		{"folder = r\nfull_fields = maybe\n", `callhook.ini:12: [recordings] full_fields: want true or false, got "maybe"`},
		{"folder = r\nid_placement = header\n", `callhook.ini:12: [recordings] id_placement: unknown id_placement "header" (want query, body)`},
		{"folder = r\nanalytics = whisper\n", `callhook.ini:12: [recordings] analytics: unknown analytics provider "whisper" (want none, local, yandex)`},
		{"folder = r\nanalytics = yandex\n", "callhook.ini:12: [recordings] yandex_api_key: missing (analytics = yandex needs yandex_api_key or yandex_iam_token)"},
		{"folder = r\nyandex_iam_token = t1\n", "callhook.ini:12: [recordings] yandex_folder_id: missing (required with yandex_iam_token)"},
		{"folder = r\nyandex_stt_url = stt\n", `callhook.ini:12: [recordings] yandex_stt_url: want an absolute http:// or https:// URL, got "stt"`},
		{"folder = r\nwebhooks = crm, erp\n", "callhook.ini:12: [recordings] webhooks: no [webhook.erp] section"},
		{"folder = r\ncolour = red\n", "callhook.ini:12: [recordings] colour: unknown key (known: analytics, base_url, bitrate"},
		{"folder = r\n[recordings]\nfolder = s\n", "callhook.ini:12: [recordings]: duplicate section (first defined on line 10)"},
	} {
		_, err := config.Parse("callhook.ini", strings.NewReader(pbxOK+hookOK+"\n[recordings]\n"+tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
	bul := pbxOK + hookOK + "[webhook.bf]\nurl = http://127.0.0.1:9000/b\ndialect = bulutfon\n[recordings]\nfolder = r\nwebhooks = bf\n"
	if _, err := config.Parse("callhook.ini", strings.NewReader(bul)); err == nil ||
		!strings.Contains(err.Error(), "callhook.ini:14: [recordings] webhooks: [webhook.bf] has dialect bulutfon") {
		t.Errorf("bulutfon target: err = %v", err)
	}
}
