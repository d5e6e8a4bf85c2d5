package ami

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

const captureDir = "../../fixtures/ami/asterisk22"

// capturePackets splits a capture into its packets, each with its CRLFs and
// closing blank line, after the banner line.
func capturePackets(t testing.TB, name string) (banner string, packets []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(captureDir, name))
	if err != nil {
		t.Fatalf("read capture: %v", err)
	}
	s := string(raw)
	i := strings.Index(s, "\r\n")
	banner, s = s[:i+2], s[i+2:]
	for s != "" {
		j := strings.Index(s, "\r\n\r\n")
		if j < 0 {
			t.Fatalf("%s: unterminated packet %q", name, s)
		}
		packets = append(packets, s[:j+4])
		s = s[j+4:]
	}
	return banner, packets
}

// captureEvent is the n-th (from 1) event named name in a capture.
func captureEvent(t testing.TB, file, name string, n int) string {
	t.Helper()
	_, packets := capturePackets(t, file)
	for _, p := range packets {
		if strings.HasPrefix(p, "Event: "+name+"\r\n") {
			if n--; n == 0 {
				return p
			}
		}
	}
	t.Fatalf("%s: no event %s #%d", file, name, n)
	return ""
}

// at parses a capture Timestamp ("1795482057.322272").
func at(t testing.TB, ts string) time.Time {
	t.Helper()
	sec, usec, _ := strings.Cut(ts, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	u, err2 := strconv.ParseInt(usec, 10, 64)
	if err1 != nil || err2 != nil || len(usec) != 6 {
		t.Fatalf("bad timestamp %q", ts)
	}
	return time.Unix(s, u*1000)
}

// The legs of 01_inbound_answered.log.
func trunkLeg() pbx.Channel {
	return pbx.Channel{
		Name: "PJSIP/trunk-00000000", State: pbx.StateRing,
		CallerIDNum: "2125559876", CallerIDName: "John Smith",
		Language: "en", Context: "from-trunk", Exten: "2125550100", Priority: 1,
		Uniqueid: "1795482057.0", Linkedid: "1795482057.0",
	}
}

func aliceLeg() pbx.Channel {
	return pbx.Channel{
		Name: "PJSIP/101-00000001", State: pbx.StateDown,
		CallerIDNum: "101", CallerIDName: "Alice 101",
		Language: "en", Context: "from-internal", Exten: "s", Priority: 1,
		Uniqueid: "1795482057.1", Linkedid: "1795482057.0",
	}
}

func TestRenderMatchesAsterisk22Capture(t *testing.T) {
	const file = "01_inbound_answered.log"
	bridge := pbx.Bridge{
		Uniqueid: "6316f43c-eecf-4383-a8db-fbd3eb569fcd", Type: "basic",
		Technology: "simple_bridge", VideoSource: "none",
	}
	trunk, alice := trunkLeg(), aliceLeg()

	dialCaller := trunk
	dialCaller.Priority = 2
	dialDest := alice
	dialDest.ConnectedLineNum, dialDest.ConnectedLineName = "2125559876", "John Smith"
	dialDest.Exten = "2125550100"

	aliceUp := dialDest
	aliceUp.State, aliceUp.Exten = pbx.StateUp, ""
	trunkUp := dialCaller
	trunkUp.State = pbx.StateUp
	trunkUp.ConnectedLineNum, trunkUp.ConnectedLineName = "101", "Alice 101"
	bridge1, bridge2, bridge0 := bridge, bridge, bridge
	bridge1.NumChannels, bridge2.NumChannels = 1, 2

	hangupCause := []pbx.Field{{Key: "Cause", Value: "16"}, {Key: "Cause-txt", Value: "Normal Clearing"}}

	tests := []struct {
		name string
		n    int
		ts   string
		ev   pbx.Event
	}{
		{"Newchannel", 1, "1795482057.322272", pbx.Event{Channel: &trunk}},
		{"Newchannel", 2, "1795482057.324596", pbx.Event{Channel: &alice}},
		{"DialBegin", 1, "1795482057.330436", pbx.Event{
			Channel: &dialCaller, Dest: &dialDest,
			Fields: []pbx.Field{{Key: "DialString", Value: "101"}},
		}},
		{"BridgeCreate", 1, "1795482060.342940", pbx.Event{Bridge: &bridge0}},
		{"BridgeEnter", 1, "1795482060.343531", pbx.Event{Bridge: &bridge1, Channel: &aliceUp}},
		{"BridgeEnter", 2, "1795482060.343884", pbx.Event{Bridge: &bridge2, Channel: &trunkUp}},
		{"Hangup", 1, "1795482068.351884", pbx.Event{Channel: &aliceUp, Fields: hangupCause}},
		{"Hangup", 2, "1795482068.352090", pbx.Event{Channel: &trunkUp, Fields: hangupCause}},
		{"Cdr", 1, "1795482068.352283", pbx.Event{Fields: []pbx.Field{
			{Key: "AccountCode", Value: ""},
			{Key: "Source", Value: "2125559876"},
			{Key: "Destination", Value: "2125550100"},
			{Key: "DestinationContext", Value: "from-trunk"},
			{Key: "CallerID", Value: `"John Smith" <2125559876>`},
			{Key: "Channel", Value: "PJSIP/trunk-00000000"},
			{Key: "DestinationChannel", Value: "PJSIP/101-00000001"},
			{Key: "LastApplication", Value: "Dial"},
			{Key: "LastData", Value: "PJSIP/101,20,tU(sub-record)"},
			{Key: "StartTime", Value: "2026-11-24 01:00:57"},
			{Key: "AnswerTime", Value: "2026-11-24 01:01:00"},
			{Key: "EndTime", Value: "2026-11-24 01:01:08"},
			{Key: "Duration", Value: "11"},
			{Key: "BillableSeconds", Value: "8"},
			{Key: "Disposition", Value: "ANSWERED"},
			{Key: "AMAFlags", Value: "DOCUMENTATION"},
			{Key: "UniqueID", Value: "1795482057.0"},
			{Key: "UserField", Value: ""},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"#"+strconv.Itoa(tt.n), func(t *testing.T) {
			ev := tt.ev
			ev.Name, ev.Time = tt.name, at(t, tt.ts)
			got := string(Render(ev, true).Bytes())
			want := captureEvent(t, file, tt.name, tt.n)
			if got != want {
				t.Errorf("render differs from the capture\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func TestRenderWithoutTimestamp(t *testing.T) {
	trunk := trunkLeg()
	got := Render(pbx.Event{Name: "Newchannel", Time: time.Unix(1, 0), Channel: &trunk}, false)
	if got.Has("Timestamp") {
		t.Errorf("Timestamp rendered with timestampevents off: %v", got)
	}
	want := strings.Replace(captureEvent(t, "01_inbound_answered.log", "Newchannel", 1),
		"Timestamp: 1795482057.322272\r\n", "", 1)
	if string(got.Bytes()) != want {
		t.Errorf("got %q\nwant %q", got.Bytes(), want)
	}
}

func TestPrivilegeMatchesCaptures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(captureDir, "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, f := range files {
		_, packets := capturePackets(t, filepath.Base(f))
		for _, p := range packets {
			m, err := ReadMessage(bufio.NewReader(strings.NewReader(p)))
			if err != nil {
				t.Fatalf("%s: parse %q: %v", f, p, err)
			}
			name, priv := m.Get("Event"), m.Get("Privilege")
			if name == "" || priv == "" {
				continue // a response or an action's list event
			}
			if got := Privilege(name); got != priv {
				t.Errorf("%s: Privilege(%s) = %q, capture has %q", filepath.Base(f), name, got, priv)
			}
		}
	}
}

// Every packet of every capture reads back to its own bytes.
func TestReadMessageRoundTripsCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(captureDir, "*.log"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(bytes.NewReader(raw))
		banner, err := r.ReadString('\n')
		if err != nil || banner != Banner {
			t.Fatalf("%s: banner %q, %v", f, banner, err)
		}
		var out bytes.Buffer
		out.WriteString(banner)
		for {
			m, err := ReadMessage(r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out.Write(m.Bytes())
		}
		if !bytes.Equal(out.Bytes(), raw) {
			t.Errorf("%s: re-rendered stream differs from the capture", f)
		}
	}
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
		err  error
	}{
		{"crlf", "Action: Ping\r\nActionID: 1\r\n\r\n", Message{{"Action", "Ping"}, {"ActionID", "1"}}, nil},
		{"lf and leading blank lines", "\n\r\nA: b\n\n", Message{{"A", "b"}}, nil},
		{"empty value", "AccountCode: \r\n\r\n", Message{{"AccountCode", ""}}, nil},
		{"colon in value", "AppData: a:b\r\n\r\n", Message{{"AppData", "a:b"}}, nil},
		{"eof", "", nil, io.EOF},
		{"eof after blanks", "\r\n\r\n", nil, io.EOF},
		{"truncated", "A: b\r\n", Message{{"A", "b"}}, io.ErrUnexpectedEOF},
		{"malformed", "Asterisk Call Manager/11.0.0\r\n", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMessage(bufio.NewReader(strings.NewReader(tt.in)))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil && string(got.Bytes()) != string(tt.want.Bytes()) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzReadMessage: no input panics, and a message read without error
// renders to bytes that read back to the same message.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("Action: Login\r\nUsername: admin\r\nSecret: secret\r\n\r\n"))
	f.Add([]byte("\r\n\r\nA:b\nC:  d\r\r\n\n"))
	f.Add([]byte("no colon\r\n\r\n"))
	f.Add([]byte("A: b"))
	f.Add([]byte(":\r\n\r\n"))
	if files, _ := filepath.Glob(filepath.Join(captureDir, "0[12]_*.log")); len(files) > 0 {
		for _, file := range files {
			if raw, err := os.ReadFile(file); err == nil {
				f.Add(raw[:min(len(raw), 4096)])
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for range 64 {
			m, err := ReadMessage(r)
			if err != nil {
				return
			}
			if len(m) == 0 {
				t.Fatalf("empty message without error from %q", in)
			}
			again, err := ReadMessage(bufio.NewReader(bytes.NewReader(m.Bytes())))
			if err != nil {
				t.Fatalf("re-read %q: %v", m.Bytes(), err)
			}
			if !bytes.Equal(again.Bytes(), m.Bytes()) {
				t.Fatalf("round trip: %q became %q", m.Bytes(), again.Bytes())
			}
		}
	})
}

// FuzzReadRequest: the server's own bounded reader never panics and never
// keeps a header it could not have read.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("Action: Ping\r\n\r\n"))
	f.Add([]byte("\r\n"))
	f.Add([]byte(strings.Repeat("x", 3000) + "\r\nAction: Ping\r\n\r\n"))
	f.Add([]byte(strings.Repeat("A: b\r\n", 200) + "\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), maxLineLen)
		for range 64 {
			req, _, err := readRequest(r)
			if err != nil {
				return
			}
			if len(req) > maxMsgLines {
				t.Fatalf("%d headers kept", len(req))
			}
		}
	})
}

func TestReadSession(t *testing.T) {
	ms, err := ReadSession(bufio.NewReader(strings.NewReader(
		"Asterisk Call Manager/11.0.0\r\nEvent: A\r\n\r\nEvent: B\r\nX: 1\r\n\r\n")))
	if err != nil || len(ms) != 2 || ms[1].Get("X") != "1" {
		t.Fatalf("ReadSession = %v, %v", ms, err)
	}
	if _, err := ReadSession(bufio.NewReader(strings.NewReader(""))); err == nil {
		t.Error("an empty session has no banner: want an error")
	}
	if _, err := ReadSession(bufio.NewReader(strings.NewReader("banner\r\nno colon here\r\n\r\n"))); err == nil {
		t.Error("a line without a colon: want an error")
	}
}

func TestSimulated(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want bool
	}{
		{Message{{"Event", "Newchannel"}}, true},
		{Message{{"Event", "VarSet"}}, false},
		{Message{{"Event", "QueueMemberStatus"}}, false},
		{Message{{"Response", "Success"}}, false},
		{Message{{"Event", "DeviceStateChange"}, {"Device", "PJSIP/101"}}, true},
		{Message{{"Event", "DeviceStateChange"}, {"Device", "Queue:800_avail"}}, false},
	} {
		if got := Simulated(tc.m); got != tc.want {
			t.Errorf("Simulated(%v) = %v, want %v", tc.m, got, tc.want)
		}
	}
}
