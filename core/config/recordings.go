package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/callhook/callhook/core/dialect"
)

// Recordings is the optional [recordings] section: what the engine does
// with a call's recordings after hangup, as the 3CX "webhooks" module
// documents it — WAV converted to MP3, kept in a folder for a number of
// days, offered over HTTPS behind signed links, announced in a separate
// POST, optionally followed by speech analytics.
//
//	[recordings]
//	folder       = /var/lib/callhook/recordings
//	days         = 30
//	listen       = :5001
//	base_url     = https://pbx.example.com:5001/webapi/recording/
//	link_key     = 32-random-characters-or-more....
//	full_fields  = yes
//	analytics    = yandex
//	yandex_api_key = ...
type Recordings struct {
	// Folder the MP3 files are kept in and served from (key folder,
	// required). Load takes a relative folder from the config file's
	// directory.
	Folder string
	// Days files are kept; 0 keeps them forever (key days, default 30).
	Days int
	// Hour of the nightly deletion of expired files, 0-23, in the PBX's
	// time zone (key hour, default 3).
	Hour int
	// Bitrate of the MP3 files in kbit/s (key bitrate, default 32).
	Bitrate int
	// Lame is the path of the lame encoder (key lame, default "lame"
	// from PATH).
	Lame string
	// MonitorDir is where the PBX writes recordings given by a relative
	// name (key monitor_dir, default Asterisk's /var/spool/asterisk/monitor).
	MonitorDir string
	// Listen is the host:port the HTTPS download server listens on (key
	// listen, default :5001 as the module's links show).
	Listen string
	// CertFile and KeyFile: PEM certificate and key of the download
	// server (keys cert_file, key_file); both or neither. Neither: a
	// self-signed certificate is made at start.
	CertFile, KeyFile string
	// BaseURL is the public address links point at, ending in the
	// download prefix (key base_url, default
	// https://<host name>:<listen port>/webapi/recording/).
	BaseURL *url.URL
	// LinkKey signs the download links (key link_key, at least 16
	// characters); empty draws a random key at start, so links die with
	// the process.
	LinkKey Secret
	// LinkLifetime is how long a link works (key link_lifetime, default
	// 7 days).
	LinkLifetime time.Duration
	// FullFields sends every field of the call-end event with the
	// recording (key full_fields: the module's .ini switch).
	FullFields bool
	// Placement of the call id (and full fields): "query" (default) or
	// "body" (key id_placement).
	Placement string
	// Webhooks names the receivers that get the recording POSTs (key
	// webhooks, comma-separated); empty: every webhook whose dialect has
	// recording POSTs (3cx).
	Webhooks []string
	// Analytics is the speech analytics provider: "" (off), "local" or
	// "yandex" (key analytics).
	Analytics string
	// Yandex SpeechKit credentials and options (keys yandex_api_key,
	// yandex_iam_token, yandex_folder_id, yandex_model,
	// yandex_languages, yandex_stt_url, yandex_operation_url).
	YandexAPIKey, YandexIAMToken Secret
	YandexFolderID, YandexModel  string
	YandexLanguages              []string
	YandexSTTURL, YandexOpURL    string
	// WaitTimeout bounds how long a WAV file may take to be complete
	// after hangup (key wait_timeout, default 30s).
	WaitTimeout time.Duration

	Line         int // line of the [recordings] header, 0 when absent
	webhooksLine int
}

// Enabled says whether the section is present.
func (r Recordings) Enabled() bool { return r.Line != 0 }

// Analytics providers a [recordings] section can name.
var AnalyticsProviders = []string{"none", "local", "yandex"}

var recordingsFields = map[string]field[Recordings]{
	"folder": {required: true, set: func(r *Recordings, _, v string) error { r.Folder = v; return nil }},
	"days": {set: func(r *Recordings, _, v string) error {
		n, err := parseCount(v, 0, 36500)
		r.Days = n
		return err
	}},
	"hour": {set: func(r *Recordings, _, v string) error {
		n, err := parseCount(v, 0, 23)
		r.Hour = n
		return err
	}},
	"bitrate": {set: func(r *Recordings, _, v string) error {
		n, err := parseCount(v, 8, 320)
		r.Bitrate = n
		return err
	}},
	"lame":        {set: func(r *Recordings, _, v string) error { r.Lame = v; return nil }},
	"monitor_dir": {set: func(r *Recordings, _, v string) error { r.MonitorDir = v; return nil }},
	"listen": {set: func(r *Recordings, _, v string) error {
		// ":5001" listens on every address; port 0 takes a free one.
		if err := checkHostPort(v); err != nil && !strings.HasPrefix(v, ":") && !strings.HasSuffix(v, ":0") {
			return err
		}
		r.Listen = v
		return nil
	}},
	"cert_file": {set: func(r *Recordings, _, v string) error { r.CertFile = v; return nil }},
	"key_file":  {set: func(r *Recordings, _, v string) error { r.KeyFile = v; return nil }},
	"base_url": {set: func(r *Recordings, _, v string) error {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("want an absolute https:// URL such as https://pbx.example.com:5001/webapi/recording/, got %q", v)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("URL %q: no query or fragment (the link's token goes there)", v)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		r.BaseURL = u
		return nil
	}},
	"link_key": {set: func(r *Recordings, _, v string) error {
		if len(v) < 16 {
			return fmt.Errorf("key too short (%d characters, want at least 16): it signs the download links", len(v))
		}
		r.LinkKey = Secret(v)
		return nil
	}},
	"link_lifetime": {set: func(r *Recordings, _, v string) error {
		d, err := parseDuration(v)
		r.LinkLifetime = d
		return err
	}},
	"full_fields": {set: func(r *Recordings, _, v string) error {
		b, err := parseBool(v)
		r.FullFields = b
		return err
	}},
	"id_placement": {set: func(r *Recordings, _, v string) error {
		p, err := oneOf("id_placement", v, []string{"query", "body"})
		r.Placement = p
		return err
	}},
	"webhooks": {set: func(r *Recordings, _, v string) error {
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				r.Webhooks = append(r.Webhooks, n)
			}
		}
		return nil
	}},
	"analytics": {set: func(r *Recordings, _, v string) error {
		p, err := oneOf("analytics provider", v, AnalyticsProviders)
		if p == "none" {
			p = ""
		}
		r.Analytics = p
		return err
	}},
	"yandex_api_key":   {set: func(r *Recordings, _, v string) error { r.YandexAPIKey = Secret(v); return nil }},
	"yandex_iam_token": {set: func(r *Recordings, _, v string) error { r.YandexIAMToken = Secret(v); return nil }},
	"yandex_folder_id": {set: func(r *Recordings, _, v string) error { r.YandexFolderID = v; return nil }},
	"yandex_model":     {set: func(r *Recordings, _, v string) error { r.YandexModel = v; return nil }},
	"yandex_languages": {set: func(r *Recordings, _, v string) error {
		for l := range strings.SplitSeq(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				r.YandexLanguages = append(r.YandexLanguages, l)
			}
		}
		return nil
	}},
	"yandex_stt_url":       {set: func(r *Recordings, _, v string) error { return setURL(&r.YandexSTTURL, v) }},
	"yandex_operation_url": {set: func(r *Recordings, _, v string) error { return setURL(&r.YandexOpURL, v) }},
	"wait_timeout": {set: func(r *Recordings, _, v string) error {
		d, err := parseDuration(v)
		r.WaitTimeout = d
		return err
	}},
}

func setURL(dst *string, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http:// or https:// URL, got %q", v)
	}
	*dst = strings.TrimSuffix(v, "/")
	return nil
}

func checkRecordings(cfg *Config, sec *iniSection, ps *problems) {
	if cfg.Recordings.Line != 0 {
		ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", cfg.Recordings.Line)
		return
	}
	r := Recordings{Line: sec.line, Days: 30, Hour: 3, Bitrate: 32, Listen: ":5001",
		LinkLifetime: 7 * 24 * time.Hour, Placement: "query", WaitTimeout: 30 * time.Second,
		MonitorDir: "/var/spool/asterisk/monitor"}
	seen := applyFields(sec, recordingsFields, &r, ps)
	r.webhooksLine = seen["webhooks"]
	_, cert := seen["cert_file"]
	_, key := seen["key_file"]
	switch {
	case cert && !key:
		ps.add(seen["cert_file"], sec.name, "key_file", "missing (cert_file needs its key_file)")
	case key && !cert:
		ps.add(seen["key_file"], sec.name, "cert_file", "missing (key_file needs its cert_file)")
	}
	if r.Analytics == "yandex" && r.YandexAPIKey == "" && r.YandexIAMToken == "" {
		ps.add(seen["analytics"], sec.name, "yandex_api_key", "missing (analytics = yandex needs yandex_api_key or yandex_iam_token)")
	}
	if r.YandexIAMToken != "" && r.YandexFolderID == "" {
		ps.add(seen["yandex_iam_token"], sec.name, "yandex_folder_id", "missing (required with yandex_iam_token)")
	}
	cfg.Recordings = r
}

// checkRecordingWebhooks runs once every section is read: the receivers a
// [recordings] section names must exist and speak a dialect with a
// recording POST.
func checkRecordingWebhooks(cfg *Config, ps *problems) {
	r := cfg.Recordings
	if r.Line == 0 {
		return
	}
	for _, name := range r.Webhooks {
		var found *Webhook
		for i := range cfg.Webhooks {
			if cfg.Webhooks[i].Name == name {
				found = &cfg.Webhooks[i]
			}
		}
		switch {
		case found == nil:
			ps.add(r.webhooksLine, "recordings", "webhooks", "no [webhook.%s] section", name)
		default:
			if spec, err := dialect.Lookup(found.Dialect); err == nil && !spec.Recordings {
				ps.add(r.webhooksLine, "recordings", "webhooks", "[webhook.%s] has dialect %s, which has no recording POSTs", name, found.Dialect)
			}
		}
	}
}

// resolveRecordings takes a relative folder from the config file's
// directory, as [delivery] dir is.
func resolveRecordings(cfg *Config, path string) {
	r := &cfg.Recordings
	if r.Line != 0 && r.Folder != "" && !filepath.IsAbs(r.Folder) {
		r.Folder = filepath.Join(filepath.Dir(path), r.Folder)
	}
}
