package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
)

// specMinimal is the minimal file of SPEC §5, inline comments included.
const specMinimal = `[pbx]
type     = ami                 ; ami | pbxsim | 3cx | esl (as connectors land)
address  = 127.0.0.1:5038
username = admin
secret   = secret

[webhook.crm]
url     = http://127.0.0.1:9000/hook
dialect = 3cx                  ; 3cx | bulutfon | voipex
; events, format (json|form), username/password (basic auth), signing secret,
; pbx_number (bulutfon binding), profile ... as the dialect needs
`

const pbxOK = `[pbx]
type = ami
address = 127.0.0.1:5038
username = admin
secret = s3cret
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		ini      string
		wantErr  string // substring of the problem on wantLine
		wantLine int    // 0: a whole-file problem
	}{
		{"unknown dialect", pbxOK + "[webhook.crm]\nurl = http://x/hook\ndialect = 3cxx\n",
			`callhook.ini:8: [webhook.crm] dialect: unknown dialect "3cxx" (want 3cx, bulutfon, voipex)`, 8},
		{"missing url", pbxOK + "\n[webhook.crm]\ndialect = 3cx\n",
			"[webhook.crm] url: missing (required)", 7},
		{"empty url", pbxOK + "[webhook.crm]\nurl =\ndialect = 3cx\n",
			"[webhook.crm] url: empty value (required)", 7},
		{"relative url", pbxOK + "[webhook.crm]\nurl = /hook\ndialect = 3cx\n",
			"want an absolute http:// or https:// URL", 7},
		{"ftp url", pbxOK + "[webhook.crm]\nurl = ftp://h/x\ndialect = 3cx\n",
			"want an absolute http:// or https:// URL", 7},
		{"url without host", pbxOK + "[webhook.crm]\nurl = http:///x\ndialect = 3cx\n",
			"has no host", 7},
		{"address without port", "[pbx]\ntype = ami\naddress = 127.0.0.1\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`[pbx] address: want host:port, got "127.0.0.1" (missing port in address)`, 3},
		{"address port 99999", "[pbx]\ntype = ami\naddress = 127.0.0.1:99999\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`[pbx] address: port "99999" in "127.0.0.1:99999": want a number 1-65535`, 3},
		{"address port 0", "[pbx]\ntype = ami\naddress = pbx:0\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			"want a number 1-65535", 3},
		{"address garbage", "[pbx]\ntype = ami\naddress = not an address!\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`[pbx] address: want host:port, got "not an address!"`, 3},
		{"address named port", "[pbx]\ntype = ami\naddress = pbx:ami\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`port "ami"`, 3},
		{"address without host", "[pbx]\ntype = ami\naddress = :5038\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			"missing host", 3},
		{"callback key of two digits", "[pbx]\ntype = ami\naddress = 127.0.0.1:5038\nusername = a\nsecret = b\ncallback_key = 12\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`[pbx] callback_key: want one DTMF key (0-9, *, #, A-D), got "12"`, 6},
		{"event filter neither yes nor no", "[pbx]\ntype = ami\naddress = 127.0.0.1:5038\nusername = a\nsecret = b\nevent_filter = maybe\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`callhook.ini:6: [pbx] event_filter: want yes or no, got "maybe"`, 6},
		{"unknown key in pbx", "[pbx]\ntype = ami\nadress = 127.0.0.1:5038\nusername = a\nsecret = b\n[webhook.a]\nurl = http://x\ndialect = voipex\n",
			`[pbx] adress: unknown key (did you mean "address"? known: address,`, 3},
		{"unknown key in webhook", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nretries = 3\n",
			"[webhook.crm] retries: unknown key", 9},
		{"unknown section", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n[recording]\nkeep_days = 7\n",
			"callhook.ini:9: [recording]: unknown section (want [pbx], [webhook.NAME], [delivery], [recordings], [api], [log] or [extension.NUM])", 9},
		{"duplicate key", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nURL = http://y\n",
			"[webhook.crm] url: duplicate key (first set on line 7)", 9},
		{"duplicate section", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n[webhook.crm]\nurl = http://y\ndialect = 3cx\n",
			"[webhook.crm]: duplicate section (first defined on line 6)", 9},
		{"duplicate pbx", pbxOK + pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n",
			"[pbx]: duplicate section (first defined on line 1)", 6},
		{"missing pbx", "[webhook.crm]\nurl = http://x\ndialect = 3cx\n",
			"callhook.ini: [pbx]: missing section", 0},
		{"no webhook", pbxOK,
			"callhook.ini: no [webhook.NAME] section", 0},
		{"empty file", "", "[pbx]: missing section", 0},
		{"ami without credentials", "[pbx]\ntype = ami\naddress = h:1\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			"callhook.ini:1: [pbx] secret: missing (required)", 1},
		{"3cx without credentials", "[pbx]\ntype = 3cx\nurl = https://pbx.example.com\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			"callhook.ini:1: [pbx] client_id: missing (required)", 1},
		{"3cx url", "[pbx]\ntype = 3cx\nurl = pbx.example.com\nclient_id = 900\nclient_secret = k\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			`callhook.ini:3: [pbx] url: want an http:// or https:// address`, 3},
		{"esl without password", "[pbx]\ntype = esl\naddress = h:8021\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			"callhook.ini:1: [pbx] password: missing (required)", 1},
		{"unknown connector", "[pbx]\ntype = sip\naddress = h:1\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			`unknown connector "sip"`, 2},
		{"missing type", "[pbx]\naddress = h:1\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			"[pbx] type: missing (required)", 1},
		{"bad timeout", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\ntimeout = 10\n",
			`[webhook.crm] timeout: invalid duration "10"`, 9},
		{"negative timeout", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\ntimeout = -1s\n",
			"must be positive", 9},
		{"bad format", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = bulutfon\nformat = xml\n",
			`[webhook.crm] format: "xml" is not one of json, form`, 9},
		{"bulutfon method", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = bulutfon\nmethod = GET\n",
			`[webhook.crm] method: bulutfon web hooks are POSTed, not sent with GET`, 9},
		{"bad 3cx method", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nmethod = FETCH\n",
			`[webhook.crm] method: "FETCH" is not one of GET, POST, PUT, PATCH`, 9},
		{"3cx event misspelt, on its own line", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nprofile = accom\nevents = ringing, incomming\n",
			`[webhook.crm] events: unknown 3cx event "incomming"`, 10},
		{"3cx stoppedringing not a switch", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nstoppedringing = sometimes\n",
			`[webhook.crm] stoppedringing: want true or false, got "sometimes"`, 9},
		{"3cx profile unknown", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nprofile = trtype=Accomplished\n",
			`[webhook.crm] profile: 3cx profile: unknown option "trtype=Accomplished"`, 9},
		{"bulutfon event misspelt", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = bulutfon\nevents = call_init,call_hangupp\n",
			`[webhook.crm] events: unknown bulutfon event "call_hangupp"`, 9},
		{"voipex form", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = voipex\nformat = form\n",
			`[webhook.crm] format: voipex webhooks are JSON`, 9},
		{"a bulutfon key on a 3cx webhook", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\npbx_number = 2125550100\n",
			`[webhook.crm] pbx_number: unknown key (known: `, 9},
		{"misspelt key, did you mean", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nstopedringing = true\n",
			`[webhook.crm] stopedringing: unknown key (did you mean "stoppedringing"? known: `, 9},
		{"misspelt pbx key, did you mean", "[pbx]\ntype = ami\naddress = h:1\nusername = a\nsecrte = b\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			`[pbx] secrte: unknown key (did you mean "secret"? known: `, 5},
		{"unknown callback dialect", pbxOK + "[api]\nlisten = 127.0.0.1:0\ntoken = 0123456789abcdef0\ncallback_dialect = 3cx\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			`[api] callback_dialect: dialect 3cx has no callback format`, 9},
		{"bad timezone", "[pbx]\ntype = pbxsim\naddress = h:1\ntimezone = Mars/Olympus\n[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			"unknown time zone", 4},
		{"bad header name", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nheader.x token = 1\n",
			"invalid header name", 9},
		{"password without username", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\npassword = p\n",
			"set without username", 9},
		{"username without password", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nusername = u\n",
			"[webhook.crm] username: set without password", 9},
		{"previous signing secret without signing_secret", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nsigning_secret_previous = whsec_old\n",
			"callhook.ini:9: [webhook.crm] signing_secret_previous: set without signing_secret", 9},
		{"previous signing secret same as signing_secret", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nsigning_secret = whsec_a\nsigning_secret_previous = whsec_a\n",
			"callhook.ini:10: [webhook.crm] signing_secret_previous: same as signing_secret", 10},
		{"previous signing secret twice", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nsigning_secret = whsec_a\nsigning_secret_previous = whsec_b\nsigning_secret_previous = whsec_c\n",
			"callhook.ini:11: [webhook.crm] signing_secret_previous: duplicate key (first set on line 10)", 11},
		{"log format", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n[log]\nformat = yaml\n",
			`callhook.ini:10: [log] format: unknown log format "yaml" (want text, json)`, 10},
		{"log level misspelt", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n[log]\nlevl = debug\n",
			`callhook.ini:10: [log] levl: unknown key (did you mean "level"? known: format, level)`, 10},
		{"log level", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n[log]\nlevel = verbose\n",
			`[log] level: unknown log level "verbose" (want debug, info, warn, error)`, 10},
		{"duplicate log", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\n[log]\n[log]\n",
			`callhook.ini:10: [log]: duplicate section (first defined on line 9)`, 10},
		{"signing secret not base64", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nsigning_secret = whsec_not base64!\n",
			`callhook.ini:9: [webhook.crm] signing_secret: invalid signing secret: not base64 after "whsec_"`, 9},
		{"signing secret too short", pbxOK + "[webhook.crm]\nurl = http://x\ndialect = 3cx\nsigning_secret = whsec_c2hvcnQ=\n",
			`[webhook.crm] signing_secret: invalid signing secret: key is 5 bytes, want 16 to 64`, 9},
		{"empty webhook name", pbxOK + "[webhook.]\nurl = http://x\ndialect = 3cx\n",
			"missing webhook name", 6},
		{"key outside section", "type = ami\n" + pbxOK + "[webhook.a]\nurl = http://x\ndialect = 3cx\n",
			"callhook.ini:1: type: key outside of any section", 1},
		{"line without equals", pbxOK + "[webhook.crm]\nurl http://x\ndialect = 3cx\n",
			`expected key = value`, 7},
		{"unclosed header", pbxOK + "[webhook.crm\nurl = http://x\n",
			"has no closing ]", 6},
		{"unterminated quote", pbxOK + "[webhook.crm]\nurl = \"http://x\ndialect = 3cx\n",
			"unterminated quoted value", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("callhook.ini", strings.NewReader(tt.ini))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error containing %q", cfg, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error\n%s\ndoes not contain %q", err, tt.wantErr)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("errors.As(*config.Error) failed for %T", err)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false")
			}
			for _, p := range ce.Problems {
				if strings.Contains(p.String(), tt.wantErr) {
					if p.Line != tt.wantLine {
						t.Errorf("problem %q on line %d, want line %d", p, p.Line, tt.wantLine)
					}
					if p.File != "callhook.ini" {
						t.Errorf("problem file %q, want callhook.ini", p.File)
					}
					return
				}
			}
			t.Errorf("no single problem contains %q: %q", tt.wantErr, ce.Problems)
		})
	}
}

func TestParseCollectsAllProblems(t *testing.T) {
	ini := `[pbx]
type = ami
address = 127.0.0.1
[webhook.crm]
url = http://x/hook
dialect = 3cxx
colour = blue
[webhook.erp]
dialect = voipex
`
	_, err := config.Parse("callhook.ini", strings.NewReader(ini))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *config.Error", err)
	}
	want := []string{
		`callhook.ini:1: [pbx] secret: missing (required)`,
		`callhook.ini:1: [pbx] username: missing (required)`,
		`callhook.ini:3: [pbx] address: want host:port, got "127.0.0.1" (missing port in address)`,
		`callhook.ini:6: [webhook.crm] dialect: unknown dialect "3cxx" (want 3cx, bulutfon, voipex)`,
		`callhook.ini:7: [webhook.crm] colour: unknown key (known: account_id, allow_private, cdr_api_url, cdr_url, dialect, domain_id, events, format, header.*, method, password, pbx_number, profile, retry_attempts, retry_max, retry_min, signing_secret, signing_secret_previous, stoppedringing, timeout, url, username)`,
		`callhook.ini:8: [webhook.erp] url: missing (required)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("%d problems, want %d", len(ce.Problems), len(want))
	}
}

func TestParseSpecMinimal(t *testing.T) {
	cfg, err := config.Parse("callhook.ini", strings.NewReader(specMinimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p := cfg.PBX
	if p.Type != "ami" || p.Address() != "127.0.0.1:5038" || p.Options["username"] != "admin" || p.Secrets["secret"].Reveal() != "secret" {
		t.Errorf("PBX = %+v", p)
	}
	if p.Timezone != time.Local {
		t.Errorf("Timezone = %v, want Local", p.Timezone)
	}
	if len(cfg.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(cfg.Webhooks))
	}
	w := cfg.Webhooks[0]
	if w.Name != "crm" || w.URL.String() != "http://127.0.0.1:9000/hook" || w.Dialect != "3cx" || w.Line != 7 {
		t.Errorf("webhook = %+v", w)
	}
	if w.Timeout != config.DefaultWebhookTimeout || len(w.Options) != 0 {
		t.Errorf("defaults: timeout %v dialect options %v", w.Timeout, w.Options)
	}
	if cfg.File != "callhook.ini" {
		t.Errorf("File = %q", cfg.File)
	}
}

func TestParseSeveralWebhooks(t *testing.T) {
	ini := `# callhook config
[PBX]
Type = pbxsim
address = [::1]:5038
username = admin
secret = secret
timezone = Europe/Istanbul

[webhook.crm]
url = https://crm.example.com/3cx?token=a#frag
dialect = 3CX
profile = started=incomingcall_started
method = get
timeout = 2500ms

[webhook.bulut]
url = "http://127.0.0.1:9001/hook ; not a comment"  ; a comment
dialect = bulutfon
format = form
events = call_init, call_hangup,,missing_call
username = user
password = 'p#ss ;word'
pbx_number = 908501234567
header.X-Tenant = acme
HEADER.x-trace-id = on

[webhook.voipex-1]
url = http://127.0.0.1:9002/
dialect = voipex
signing_secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
signing_secret_previous = whsec_dGhlIG9sZCBzZWNyZXQsIDI0IGJ5dGVz
`
	cfg, err := config.Parse("multi.ini", strings.NewReader(ini))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.PBX.Type != "pbxsim" || cfg.PBX.Address() != "[::1]:5038" || cfg.PBX.Timezone.String() != "Europe/Istanbul" {
		t.Errorf("PBX = %+v", cfg.PBX)
	}
	if len(cfg.Webhooks) != 3 {
		t.Fatalf("%d webhooks, want 3", len(cfg.Webhooks))
	}
	crm, bulut, vx := cfg.Webhooks[0], cfg.Webhooks[1], cfg.Webhooks[2]
	if crm.Name != "crm" || crm.Dialect != "3cx" || crm.Option("method") != "get" || crm.Timeout != 2500*time.Millisecond ||
		crm.Option("profile") != "started=incomingcall_started" || crm.URL.Fragment != "frag" || crm.URL.Query().Get("token") != "a" || crm.Line != 9 ||
		crm.OptionLines["method"] != 13 {
		t.Errorf("crm = %+v", crm)
	}
	if bulut.URL.Path != "/hook ; not a comment" || bulut.Option("format") != "form" || bulut.Username != "user" ||
		bulut.Password.Reveal() != "p#ss ;word" || bulut.Option("pbx_number") != "908501234567" {
		t.Errorf("bulut = %+v", bulut)
	}
	if bulut.Option("events") != "call_init, call_hangup,,missing_call" {
		t.Errorf("events = %q", bulut.Option("events"))
	}
	if bulut.Headers["X-Tenant"] != "acme" || bulut.Headers["X-Trace-Id"] != "on" || len(bulut.Headers) != 2 {
		t.Errorf("headers = %v", bulut.Headers)
	}
	if vx.Name != "voipex-1" || vx.SigningSecret.Reveal() != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" || vx.SigningSecretPrevious.Reveal() != "whsec_dGhlIG9sZCBzZWNyZXQsIDI0IGJ5dGVz" || vx.Line != 27 {
		t.Errorf("voipex = %+v", vx)
	}
}

func TestSecretRedacted(t *testing.T) {
	s := config.Secret("hunter2")
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	pbx := config.NewPBX("ami", map[string]string{"address": "h:1", "username": "u", "secret": string(s)})
	log.Info("pbx", "secret", s, "pbx", pbx)
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v", pbx, pbx, s), b.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if config.Secret("").String() != "" {
		t.Errorf("empty secret should print empty")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ini")
	if err := os.WriteFile(good, []byte(specMinimal), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.File != good || cfg.Webhooks[0].Name != "crm" {
		t.Errorf("cfg = %+v", cfg)
	}

	bad := filepath.Join(dir, "bad.ini")
	if err := os.WriteFile(bad, []byte(strings.Replace(specMinimal, "dialect = 3cx", "dialect = 3cxx", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(bad)
	want := bad + `:9: [webhook.crm] dialect: unknown dialect "3cxx"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load(bad) = %v, want %q", err, want)
	}

	_, err = config.Load(filepath.Join(dir, "missing.ini"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, config.ErrInvalid) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
}

func TestLogSection(t *testing.T) {
	cfg, err := config.Parse("callhook.ini", strings.NewReader(specMinimal+"\n[log]\nformat = JSON\nlevel = warn\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Format != "json" || cfg.Log.Level != slog.LevelWarn {
		t.Errorf("log %+v", cfg.Log)
	}
	var b strings.Builder
	log := slog.New(cfg.Log.Handler(&b, false))
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if got := b.String(); !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"shown","k":1}`) || strings.Contains(got, "hidden") {
		t.Errorf("json log at warn wrote %q", got)
	}
	b.Reset()
	slog.New(cfg.Log.Handler(&b, true)).Debug("debug")
	if !strings.Contains(b.String(), `"level":"DEBUG"`) {
		t.Errorf("-v did not lower the level: %q", b.String())
	}
	cfg, err = config.Parse("callhook.ini", strings.NewReader(specMinimal))
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	slog.New(cfg.Log.Handler(&b, false)).Info("plain")
	if !strings.HasPrefix(b.String(), "time=") {
		t.Errorf("default log is not text: %q", b.String())
	}
}
