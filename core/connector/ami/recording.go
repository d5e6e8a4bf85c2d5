package ami

import (
	"path/filepath"
	"strings"
	"sync"

	"github.com/callhook/callhook/core/signal"
)

// DefaultMonitorDir is where Asterisk's MixMonitor writes a file given by
// a relative name (astspooldir/monitor).
const DefaultMonitorDir = "/var/spool/asterisk/monitor"

// mixFileVar is the channel variable MixMonitor sets to its file's path.
const mixFileVar = "MIXMONITOR_FILENAME"

// mixFiles learns the file each channel's MixMonitor writes. Asterisk 22's
// MixMonitorStart event carries no file name; the name is on the stream
// before it, in two places:
//
//   - Newexten with Application MixMonitor: AppData is the dialplan's
//     argument, "20261124-010100-1795482057.1.wav,b" (file, then options),
//     relative to the monitor folder unless absolute;
//   - VarSet MIXMONITOR_FILENAME, which MixMonitor itself sets to the
//     absolute path it opened ("/var/spool/asterisk/monitor/…wav"). It also
//     covers MixMonitor started over AMI (action MixMonitor), which raises
//     no Newexten.
//
// The VarSet wins when both are seen. MixMonitorStop names no file either
// (and Asterisk raises it only for StopMixMonitor, not on hangup); the
// channel's last file is used.
type mixFiles struct {
	dir    string
	mu     sync.Mutex
	byChan map[string]string // Uniqueid -> file
}

func newMixFiles(dir string) *mixFiles {
	if dir == "" {
		dir = DefaultMonitorDir
	}
	return &mixFiles{dir: dir, byChan: map[string]string{}}
}

// observe notes a file name announced by m, an event about to be
// translated.
func (f *mixFiles) observe(m Message) {
	var file string
	switch ev := m.Get("Event"); {
	case strings.EqualFold(ev, "VarSet"):
		if !strings.EqualFold(m.Get("Variable"), mixFileVar) {
			return
		}
		file = strings.TrimSpace(m.Get("Value"))
	case strings.EqualFold(ev, "Newexten"):
		if !strings.EqualFold(m.Get("Application"), "MixMonitor") {
			return
		}
		file, _, _ = strings.Cut(m.Get("AppData"), ",")
		file = strings.TrimSpace(file)
	default:
		return
	}
	id := m.Get("Uniqueid")
	if file == "" || id == "" {
		return
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(f.dir, file)
	}
	f.mu.Lock()
	f.byChan[id] = file
	f.mu.Unlock()
}

// attach adds the channel's file to a recording signal, and forgets the
// channel once it is gone.
func (f *mixFiles) attach(s *signal.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch s.Kind {
	case signal.RecordingStarted, signal.RecordingStopped:
		if s.File == "" {
			s.File = f.byChan[s.Leg.ID]
		}
	case signal.LegGone:
		delete(f.byChan, s.Leg.ID)
	}
}
