package ami

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// TestRecordingFileFromCapture: Asterisk 22's MixMonitorStart carries no
// file name; the connector learns it from MIXMONITOR_FILENAME, so the
// signal names the file the PBX writes, both over a live connection and
// through Decode.
func TestRecordingFileFromCapture(t *testing.T) {
	const want = "/var/spool/asterisk/monitor/20261124-010100-1795482057.1.wav"
	find := func(sigs []signal.Signal) signal.Signal {
		for _, s := range sigs {
			if s.Kind == signal.RecordingStarted {
				return s
			}
		}
		t.Fatal("no RecordingStarted signal")
		return signal.Signal{}
	}
	live := find(replay(t, "01_inbound_answered.log"))
	if got := live.File; got != want || live.Leg.ID != "1795482057.1" {
		t.Errorf("live: file %q on leg %s, want %q on 1795482057.1", got, live.Leg.ID, want)
	}
	f, err := os.Open(filepath.Join(capturesDir, "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := find(sigs).File; got != want {
		t.Errorf("decode: file %q, want %q", got, want)
	}
}

func TestRecordingFileSources(t *testing.T) {
	chanBlock := func(uid string) string {
		return "Channel: PJSIP/101-00000001\r\nUniqueid: " + uid + "\r\nLinkedid: 9.0\r\n"
	}
	for _, tc := range []struct {
		name, stream, want string
		stopWant           string
	}{
		{"newexten relative name in the monitor folder",
			"Event: Newexten\r\n" + chanBlock("9.1") + "Application: MixMonitor\r\nAppData: call-9.1.wav,b\r\n\r\n" +
				"Event: MixMonitorStart\r\n" + chanBlock("9.1") + "\r\n",
			"/srv/monitor/call-9.1.wav", ""},
		{"newexten absolute name",
			"Event: Newexten\r\n" + chanBlock("9.1") + "Application: MixMonitor\r\nAppData: /rec/x.wav\r\n\r\n" +
				"Event: MixMonitorStart\r\n" + chanBlock("9.1") + "\r\n",
			"/rec/x.wav", ""},
		{"varset wins over newexten, stop names the same file",
			"Event: Newexten\r\n" + chanBlock("9.1") + "Application: MixMonitor\r\nAppData: x.wav,b\r\n\r\n" +
				"Event: VarSet\r\n" + chanBlock("9.1") + "Variable: MIXMONITOR_FILENAME\r\nValue: /elsewhere/x.wav\r\n\r\n" +
				"Event: MixMonitorStart\r\n" + chanBlock("9.1") + "\r\n" +
				"Event: MixMonitorStop\r\n" + chanBlock("9.1") + "\r\n",
			"/elsewhere/x.wav", "/elsewhere/x.wav"},
		{"another channel's file is not taken",
			"Event: VarSet\r\n" + chanBlock("9.2") + "Variable: MIXMONITOR_FILENAME\r\nValue: /rec/y.wav\r\n\r\n" +
				"Event: MixMonitorStart\r\n" + chanBlock("9.1") + "\r\n",
			"", ""},
		{"hangup forgets the channel",
			"Event: VarSet\r\n" + chanBlock("9.1") + "Variable: MIXMONITOR_FILENAME\r\nValue: /rec/y.wav\r\n\r\n" +
				"Event: Hangup\r\n" + chanBlock("9.1") + "Cause: 16\r\n\r\n" +
				"Event: MixMonitorStart\r\n" + chanBlock("9.1") + "\r\n",
			"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := newMixFiles("/srv/monitor")
			pr := newPacketReader(strings.NewReader(tc.stream))
			var started, stopped string
			for {
				m, err := pr.ReadPacket()
				if err != nil {
					break
				}
				files.observe(m)
				s, err := translate(m, time.Time{}, time.UTC)
				if err != nil {
					continue
				}
				files.attach(&s)
				switch s.Kind {
				case signal.RecordingStarted:
					started = s.File
				case signal.RecordingStopped:
					stopped = s.File
				}
			}
			if started != tc.want || stopped != tc.stopWant {
				t.Errorf("started %q stopped %q, want %q %q", started, stopped, tc.want, tc.stopWant)
			}
		})
	}
}
