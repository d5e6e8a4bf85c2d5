package callmodel_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector/ami"
)

// The call model, fed the signals of real Asterisk 22 captures, reports what
// the 3CX document prescribes for those calls.
func TestAsteriskCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []want
	}{
		// 101 rings ~3 s, answers; the caller hangs up ~8 s after answer.
		{"01_inbound_answered.log", []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
			{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 8 * time.Second},
			{kind: callmodel.Record, user: "101", link: 1},
		}},
		// 101 never answers; Dial gives NOANSWER after 20 s.
		{"02_inbound_missed.log", []want{
			{kind: callmodel.Initiated, link: 0},
			{kind: callmodel.Ringing, user: "101", link: 0},
			{kind: callmodel.Ended, user: "101", link: 0, finish: callmodel.FinishMissed},
			{kind: callmodel.Record, user: "101", link: 0},
		}},
		// 101 dials out through the trunk; the carrier answers after ~3 s;
		// 101 hangs up ~10 s after answer.
		{"07_outbound_answered.log", []want{
			{kind: callmodel.Initiated, user: "101", link: 0},
			{kind: callmodel.Dialing, user: "101", link: 0},
			{kind: callmodel.Answered, user: "101", link: 1, transfer: callmodel.NotTransferred},
			{kind: callmodel.Ended, user: "101", link: 1, finish: callmodel.FinishOK, talk: 10 * time.Second},
			{kind: callmodel.Record, user: "101", link: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sigs, err := ami.Decode(f, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, sigs)
			check(t, got, tt.want)
			if len(got) > 0 && got[0].ID.Start.IsZero() {
				t.Error("call start time not taken from the capture's Timestamp")
			}
		})
	}
}

// Capture 01 records the answered call with MixMonitor (file named in the
// dialplan's MIXFILE); the call's record names that file and every event
// from the recording on says the call is recorded.
func TestCaptureRecordingReference(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "ami", "asterisk22", "01_inbound_answered.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := ami.Decode(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	m := callmodel.New()
	var record *callmodel.CallRecord
	var ended *callmodel.Event
	for _, s := range sigs {
		for _, ev := range m.Handle(s) {
			switch ev.Kind {
			case callmodel.Record:
				record = ev.Record
			case callmodel.Ended:
				ended = &ev
			case callmodel.Ringing:
				if ev.Recorded {
					t.Error("ringing reported as recorded before MixMonitor started")
				}
			}
		}
	}
	if ended == nil || !ended.Recorded {
		t.Fatalf("call ended %+v, want Recorded", ended)
	}
	if record == nil {
		t.Fatal("no call record")
	}
	want := "20261124-010100-1795482057.1.wav"
	if len(record.Recordings) != 1 || record.Recordings[0] != want || !record.Recorded {
		t.Errorf("record names %v (recorded %v), want [%s]", record.Recordings, record.Recorded, want)
	}
}
