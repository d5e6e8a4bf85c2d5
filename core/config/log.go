package config

import (
	"io"
	"log/slog"
	"strings"
)

// Log is the optional [log] section: how the engine writes its log (to
// stderr, where a service manager or container runtime collects it).
//
//	[log]
//	format = json   ; text (default) | json: one JSON object per line
//	level  = info   ; debug | info (default) | warn | error
type Log struct {
	Format string     // "text" or "json" (key format)
	Level  slog.Level // key level
	Line   int        // line of the [log] header, 0 when absent
}

// LogFormats and LogLevels are the values [log] takes.
var (
	LogFormats = []string{"text", "json"}
	LogLevels  = []string{"debug", "info", "warn", "error"}
)

var logFields = map[string]field[Log]{
	"format": {set: func(l *Log, _, v string) error {
		f, err := oneOf("log format", v, LogFormats)
		l.Format = f
		return err
	}},
	"level": {set: func(l *Log, _, v string) error {
		lv, err := oneOf("log level", v, LogLevels)
		if err != nil {
			return err
		}
		return l.Level.UnmarshalText([]byte(strings.ToUpper(lv)))
	}},
}

func checkLog(cfg *Config, sec *iniSection, ps *problems) {
	if cfg.Log.Line != 0 {
		ps.add(sec.line, sec.name, "", "duplicate section (first defined on line %d)", cfg.Log.Line)
		return
	}
	l := Log{Format: "text", Level: slog.LevelInfo, Line: sec.line}
	applyFields(sec, logFields, &l, ps)
	cfg.Log = l
}

// Handler is the slog handler the section asks for, writing to w; debug
// lowers the level to debug whatever the section says (serve -v).
func (l Log) Handler(w io.Writer, debug bool) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.Level}
	if debug {
		opts.Level = slog.LevelDebug
	}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
