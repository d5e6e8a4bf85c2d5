package ami

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/callhook/callhook/core/signal"
)

func TestEndpointOf(t *testing.T) {
	for name, want := range map[string]string{
		"PJSIP/101-00000001":                 "101",
		"PJSIP/trunk-00000000":               "trunk",
		"PJSIP/102-0000001a":                 "102",
		"PJSIP/my-trunk-0000000a":            "my-trunk",
		"SIP/foo-0000a":                      "foo",
		"IAX2/peer-1234":                     "peer",
		"DAHDI/1-1":                          "1",
		"Local/101@from-internal-00000005;1": "101@from-internal",
		"Local/101@from-internal-00000005;2": "101@from-internal",
		"PJSIP/101-00000001<ZOMBIE>":         "101",
		"Message/ast_msg_queue":              "ast_msg_queue",
		"PJSIP/trunk":                        "trunk",
		"NoSlash":                            "",
		"":                                   "",
	} {
		if got := endpointOf(name); got != want {
			t.Errorf("endpointOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1795482057.322272":     time.Unix(1795482057, 322272000),
		"1795482057":            time.Unix(1795482057, 0),
		"1795482057.5":          time.Unix(1795482057, 500000000),
		"1795482057.1234567891": time.Unix(1795482057, 123456789),
	} {
		got, err := parseTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-5.0", "17.x1"} {
		if _, err := parseTimestamp(in); err == nil {
			t.Errorf("parseTimestamp(%q) accepted", in)
		}
	}
}

func TestTranslate(t *testing.T) {
	recv := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	t.Run("no Timestamp takes the receive time", func(t *testing.T) {
		m := Message{{"Event", "Newstate"}, {"Channel", "PJSIP/101-00000001"}, {"ChannelState", "5"}, {"Uniqueid", "1.1"}}
		s, err := translate(m, recv, time.UTC)
		if err != nil || !s.Time.Equal(recv) || s.Kind != signal.LegAlerting || s.Leg.State != signal.StateAlerting {
			t.Errorf("got %+v, %v", s, err)
		}
	})
	t.Run("state from description when the number is missing", func(t *testing.T) {
		m := Message{{"Event", "Newstate"}, {"ChannelStateDesc", "Up"}, {"Uniqueid", "1.1"}}
		if s, _ := translate(m, recv, time.UTC); s.Kind != signal.LegAnswered || s.Leg.State != signal.StateUp {
			t.Errorf("%v state %v, want LegAnswered Up", s.Kind, s.Leg.State)
		}
	})
	t.Run("event names compare without case", func(t *testing.T) {
		m := Message{{"Event", "NewChannel"}, {"Uniqueid", "1.1"}}
		if s, err := translate(m, recv, time.UTC); err != nil || s.Kind != signal.LegAppeared {
			t.Errorf("got %+v, %v", s, err)
		}
	})
	t.Run("unmapped events are skipped", func(t *testing.T) {
		for _, ev := range []string{"VarSet", "Newexten", "FullyBooted", "DeviceStateChange", "LocalBridge", ""} {
			if _, err := translate(Message{{"Event", ev}}, recv, time.UTC); !errors.Is(err, errSkip) {
				t.Errorf("%s: error %v, want errSkip", ev, err)
			}
		}
	})
	t.Run("originate dial has no caller leg", func(t *testing.T) {
		m := Message{{"Event", "DialBegin"}, {"DestChannel", "PJSIP/101-00000009"}, {"DestUniqueid", "9.9"}, {"DialString", "PJSIP/101"}}
		s, err := translate(m, recv, time.UTC)
		if err != nil || s.Leg != (signal.Leg{}) || s.Peer.Endpoint != "101" || s.Number != "" {
			t.Errorf("got %+v, %v", s, err)
		}
	})
	t.Run("events missing their ids are rejected", func(t *testing.T) {
		for _, m := range []Message{
			{{"Event", "Newchannel"}, {"Channel", "PJSIP/101-00000001"}},
			{{"Event", "DialEnd"}, {"Uniqueid", "1.1"}},
			{{"Event", "BridgeEnter"}, {"Uniqueid", "1.1"}},
			{{"Event", "Hangup"}, {"Cause", "16"}},
		} {
			if _, err := translate(m, recv, time.UTC); err == nil || errors.Is(err, errSkip) {
				t.Errorf("%v: error %v, want a translation error", m, err)
			}
		}
	})
	t.Run("sync user event", func(t *testing.T) {
		m := Message{
			{"Event", "UserEvent"}, {"Privilege", "user,all"}, {"Timestamp", "1795482057.5"},
			{"Channel", "PJSIP/101-00000001"}, {"Uniqueid", "1.1"}, {"UserEvent", "CallhookSync"},
			{"Token", "7"}, {"Token", "8"}, {"Note", ""},
		}
		s, err := translate(m, recv, time.UTC)
		if err != nil || s.Kind != signal.Sync || s.Token != "7" || !s.Time.Equal(time.Unix(1795482057, 5e8)) {
			t.Errorf("got %+v, %v", s, err)
		}
		if _, err := translate(Message{{"Event", "UserEvent"}}, recv, time.UTC); err == nil {
			t.Error("UserEvent without a name accepted")
		}
		if _, err := translate(Message{{"Event", "UserEvent"}, {"UserEvent", "SomethingElse"}}, recv, time.UTC); !errors.Is(err, errSkip) {
			t.Errorf("unknown user event: error %v, want it skipped", err)
		}
	})
	t.Run("status user events", func(t *testing.T) {
		for _, tc := range []struct {
			m    Message
			want signal.Signal
		}{
			{Message{{"Event", "UserEvent"}, {"UserEvent", "CallhookForwarding"}, {"Extension", "101"}, {"Status", "on"}, {"Destination", "0555"}},
				signal.Signal{Kind: signal.ForwardingChanged, Status: signal.Status{Extension: "101", On: true, Destination: "0555"}}},
			{Message{{"Event", "UserEvent"}, {"UserEvent", "callhookqueuelogin"}, {"extension", "102"}, {"status", "in"}, {"queue", "800"}},
				signal.Signal{Kind: signal.QueueLoginChanged, Status: signal.Status{Extension: "102", Queue: "800", On: true}}},
			{Message{{"Event", "UserEvent"}, {"UserEvent", "CallhookExtension"}, {"Extension", "105"}, {"Status", "created"}, {"Name", "Eve"}},
				signal.Signal{Kind: signal.ExtensionCreated, Status: signal.Status{Extension: "105", Name: "Eve"}}},
		} {
			s, err := translate(tc.m, recv, time.UTC)
			tc.want.Time = recv
			if err != nil || !reflect.DeepEqual(s, tc.want) {
				t.Errorf("%v:\n got  %+v, %v\n want %+v", tc.m, s, err, tc.want)
			}
		}
		for _, m := range []Message{
			{{"Event", "UserEvent"}, {"UserEvent", "CallhookForwarding"}, {"Status", "on"}},
			{{"Event", "UserEvent"}, {"UserEvent", "CallhookExtension"}, {"Extension", "105"}, {"Status", "renamed"}},
		} {
			if _, err := translate(m, recv, time.UTC); err == nil || errors.Is(err, errSkip) {
				t.Errorf("%v: error %v, want a translation error", m, err)
			}
		}
	})
	t.Run("callback user event names its call", func(t *testing.T) {
		m := Message{{"Event", "UserEvent"}, {"UserEvent", "CallhookCallback"}, {"Linkedid", "9.21"}}
		s, err := translate(m, recv, time.UTC)
		if err != nil || s.Kind != signal.CallbackRequested || s.Leg.Call != "9.21" {
			t.Errorf("got %+v, %v", s, err)
		}
	})
	t.Run("hangup with unreadable cause", func(t *testing.T) {
		m := Message{{"Event", "Hangup"}, {"Uniqueid", "1.1"}, {"Cause", "x"}, {"Cause-txt", "Unknown"}}
		if s, err := translate(m, recv, time.UTC); err != nil || s.Cause != 0 {
			t.Errorf("got %+v, %v", s, err)
		}
	})
}
