package callmodel_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The signal vocabulary and the call model speak of no PBX: the AMI
// connector absorbs Asterisk's names, ids and conventions, so another
// connector (FreeSWITCH's event socket, 3CX's call control) feeds the same
// model. This test reads their sources for Asterisk identifiers.
func TestNoPBXNames(t *testing.T) {
	forbidden := []*regexp.Regexp{
		// Asterisk's own names and id fields, in any case.
		regexp.MustCompile(`(?i)asterisk|linkedid|uniqueid|pjsip|chan_|app_dial|app_queue|dialplan`),
		regexp.MustCompile(`Local/|\bAMI\b|\bCdr\b|ChannelState|DIALSTATUS|DialStatus|DialString`),
		// app_dial's DIALSTATUS values, as strings.
		regexp.MustCompile(`"(ANSWER|NOANSWER|BUSY|CANCEL|CONGESTION|CHANUNAVAIL|RINGING)"`),
		// AMI event names (Asterisk 22's AMI event documentation).
		regexp.MustCompile(`\b(Newchannel|Newstate|Newexten|NewCallerid|NewConnectedLine|DialBegin|DialState|DialEnd|` +
			`BridgeCreate|BridgeEnter|BridgeLeave|BridgeDestroy|Hangup(Request)?|SoftHangupRequest|UserEvent|VarSet|` +
			`BlindTransfer|AttendedTransfer|LocalBridge|LocalOptimizationBegin|LocalOptimizationEnd|Masquerade|` +
			`QueueCallerJoin|QueueCallerLeave|QueueCallerAbandon|AgentCalled|AgentConnect|AgentComplete|AgentRingNoAnswer|` +
			`QueueMemberAdded|QueueMemberRemoved|QueueMemberPause|QueueMemberStatus|MixMonitorStart|MixMonitorStop|` +
			`ChanSpyStart|ChanSpyStop|ReceiveFAX|DeviceStateChange|FullyBooted)\b`),
	}
	for _, dir := range []string{".", filepath.Join("..", "signal")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			n++
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				for _, re := range forbidden {
					if m := re.FindString(line); m != "" {
						t.Errorf("%s:%d: %q names the PBX: %s", f, i+1, m, strings.TrimSpace(line))
					}
				}
			}
		}
		if n == 0 {
			t.Fatalf("no source files in %s", dir)
		}
	}
}
