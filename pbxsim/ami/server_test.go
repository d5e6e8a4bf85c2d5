package ami

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// The login and logoff of a real Asterisk 22 session, byte for byte except
// the session's own SessionID and addresses.
func TestLoginAndLogoffMatchCapture(t *testing.T) {
	s := startServer(t, nil)
	banner, packets := capturePackets(t, "01_inbound_answered.log")
	if banner != Banner {
		t.Fatalf("capture banner %q, Banner %q", banner, Banner)
	}
	c := dial(t, s.Addr())
	s.clock.Set(at(t, "1795482056.696547").UTC())
	c.send("Action: Login", "ActionID: gt-1", "Username: admin", "Secret: secret", "Events: on")
	c.expect(packets[0])
	c.expect(packets[1]) // FullyBooted: Uptime 6, LastReload 6, no Timestamp

	perSession := regexp.MustCompile(`(SessionID|LocalAddress|RemoteAddress): [^\r]*`)
	mask := func(p string) string { return perSession.ReplaceAllString(p, "$1: X") }
	got := c.packet()
	if mask(got) != mask(packets[2]) {
		t.Fatalf("SuccessfulAuth\n got %q\nwant %q", got, packets[2])
	}
	local := c.conn.RemoteAddr().String()
	if !strings.Contains(got, "LocalAddress: IPV4/TCP/"+strings.Replace(local, ":", "/", 1)+"\r\n") {
		t.Errorf("LocalAddress of %s missing in %q", local, got)
	}
	remote := c.conn.LocalAddr().String()
	if !strings.Contains(got, "RemoteAddress: IPV4/TCP/"+strings.Replace(remote, ":", "/", 1)+"\r\n") {
		t.Errorf("RemoteAddress of %s missing in %q", remote, got)
	}
	if !regexp.MustCompile(`SessionID: 0x[0-9a-f]+\r\n`).MatchString(got) {
		t.Errorf("SessionID not a pointer-like hex in %q", got)
	}

	c.send("Action: Logoff", "ActionID: gt-2")
	c.expect(packets[len(packets)-1])
	c.expectEOF()
	eventually(t, "session removed", func() bool { return s.sessionCount() == 0 })
}

func TestLoginFailureClosesConnection(t *testing.T) {
	s := startServer(t, nil)
	for _, tt := range []struct{ name, user, secret string }{
		{"wrong secret", "admin", "nope"},
		{"unknown user", "mallory", "secret"},
		{"no username", "", "secret"},
		{"no secret", "admin", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.Addr())
			c.send("Action: Login", "ActionID: x1", "Username: "+tt.user, "Secret: "+tt.secret)
			c.expect("Response: Error\r\nActionID: x1\r\nMessage: Authentication failed\r\n\r\n")
			c.expectEOF()
		})
	}
}

func TestLoginFailureIsDelayed(t *testing.T) {
	const delay = 100 * time.Millisecond
	s := startServer(t, func(c *Config) { c.AuthFailureDelay = delay })
	c := dial(t, s.Addr())
	start := time.Now()
	c.send("Action: Login", "Username: admin", "Secret: nope")
	c.expect("Response: Error\r\nMessage: Authentication failed\r\n\r\n")
	if took := time.Since(start); took < delay {
		t.Errorf("failure answered after %v, want at least %v", took, delay)
	}
	c.expectEOF()
}

func TestUsernameIsCaseInsensitive(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.send("Action: Login", "Username: ADMIN", "Secret: secret")
	c.expect("Response: Success\r\nMessage: Authentication accepted\r\n\r\n")
	c.msg() // FullyBooted
	if m := c.msg(); m.Get("AccountID") != "ADMIN" {
		t.Errorf("AccountID = %q, want the name as sent", m.Get("AccountID"))
	}
}

func TestChallengeMD5Login(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.send("Action: Challenge", "ActionID: c1")
	c.expect("Response: Error\r\nActionID: c1\r\nMessage: Must specify AuthType\r\n\r\n")

	c.send("Action: Challenge", "ActionID: c2", "AuthType: MD5")
	m := c.msg()
	challenge := m.Get("Challenge")
	want := Message{{"Response", "Success"}, {"ActionID", "c2"}, {"Challenge", challenge}}
	if string(m.Bytes()) != string(want.Bytes()) || !regexp.MustCompile(`^[0-9]{1,9}$`).MatchString(challenge) {
		t.Fatalf("challenge response %q", m.Bytes())
	}
	c.send("Action: Challenge", "AuthType: md5")
	if again := c.msg().Get("Challenge"); again != challenge {
		t.Errorf("second challenge %q, want the session's %q", again, challenge)
	}

	sum := md5.Sum([]byte(challenge + "secret"))
	c.send("Action: Login", "ActionID: l1", "Username: admin", "AuthType: MD5", "Key: "+hex.EncodeToString(sum[:]))
	c.expect("Response: Success\r\nActionID: l1\r\nMessage: Authentication accepted\r\n\r\n")
	if m := c.msg(); m.Get("Event") != "FullyBooted" {
		t.Fatalf("got %v", m)
	}

	t.Run("wrong key", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.send("Action: Challenge", "AuthType: MD5")
		c.msg()
		c.send("Action: Login", "Username: admin", "AuthType: MD5", "Key: "+hex.EncodeToString(sum[:]))
		c.expect("Response: Error\r\nMessage: Authentication failed\r\n\r\n")
		c.expectEOF()
	})
	t.Run("key without challenge", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.send("Action: Login", "Username: admin", "AuthType: MD5", "Key: "+hex.EncodeToString(sum[:]))
		c.expect("Response: Error\r\nMessage: Authentication failed\r\n\r\n")
		c.expectEOF()
	})
}

func TestPing(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.login()
	s.clock.Set(time.Unix(1795482060, 5000))
	c.send("Action: Ping", "ActionID: p1")
	c.expect("Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: 1795482060.000005\r\n\r\n")
	c.send("action: ping") // names are case-insensitive; no ActionID, none echoed
	c.expect("Response: Success\r\nPing: Pong\r\nTimestamp: 1795482060.000005\r\n\r\n")
}

func TestBeforeLogin(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	for _, action := range []string{"Ping", "Events", "CoreShowChannels", "NoSuchThing"} {
		c.send("Action: "+action, "ActionID: a-"+action)
		c.expect("Response: Error\r\nActionID: a-" + action + "\r\nMessage: Permission denied\r\n\r\n")
	}
	// Logoff is allowed before login.
	c.send("Action: Logoff")
	c.expect("Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n\r\n")
	c.expectEOF()
}

func TestUnknownAndMissingAction(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.send("Action: NoSuchThing", "ActionID: u1")
	c.expect("Response: Error\r\nActionID: u1\r\nMessage: Permission denied\r\n\r\n")
	c.login()

	c.send("Action: NoSuchThing", "ActionID: u1")
	c.expect("Response: Error\r\nActionID: u1\r\nMessage: Invalid/unknown command: NoSuchThing. " +
		"Use Action: ListCommands to show available commands.\r\n\r\n")
	c.send("ActionID: m1", "Foo: bar")
	c.expect("Response: Error\r\nActionID: m1\r\nMessage: Missing action in request\r\n\r\n")
	c.write("\r\n") // a lone blank line is an empty message, as in Asterisk
	c.expect("Response: Error\r\nMessage: Missing action in request\r\n\r\n")
	c.send("Action:", "Action: Ping", "ActionID: e1") // the first non-empty Action counts
	c.expect("Response: Success\r\nActionID: e1\r\nPing: Pong\r\nTimestamp: 1795482050.000000\r\n\r\n")
	c.send("Action: Login", "ActionID: again", "Username: admin", "Secret: secret")
	c.expect("Response: Success\r\nActionID: again\r\nMessage: Already authenticated\r\n\r\n")
}

func TestMalformedInput(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.login()
	c.send("ActionID: long1", "Action: Ping", "X: "+strings.Repeat("y", 5000))
	c.expect("Response: Error\r\nActionID: long1\r\nMessage: Failed to parse message: line too long\r\n\r\n")
	many := []string{"Action: Ping", "ActionID: many"}
	for i := range 200 {
		many = append(many, fmt.Sprintf("X-%d: y", i))
	}
	c.send(many...)
	c.expect("Response: Error\r\nActionID: many\r\nMessage: Too many lines in message or allocation failure\r\n\r\n")
	c.write("garbage without colon\n\x00\xff\xfe: \x01\nAction: Ping\nActionID: lf\n\n")
	if m := c.msg(); m.Get("ActionID") != "lf" || m.Get("Ping") != "Pong" {
		t.Fatalf("after garbage got %v", m)
	}
	c.send("Action : Ping", "ActionID: sp") // a space before the colon is no Action header
	c.expect("Response: Error\r\nActionID: sp\r\nMessage: Missing action in request\r\n\r\n")
	c.ping("still-alive")
}

func TestAuthTimeoutClosesSilently(t *testing.T) {
	s := startServer(t, func(c *Config) { c.AuthTimeout = 50 * time.Millisecond })
	c := dial(t, s.Addr())
	c.expectEOF()
	eventually(t, "session removed", func() bool { return s.sessionCount() == 0 })
	if !strings.Contains(s.logs.String(), "failed to authenticate in time") {
		t.Errorf("no log of the timeout in %s", s.logs.String())
	}
}

func testEvent(name string, i int) pbx.Event {
	return pbx.Event{
		Name:   name,
		Time:   time.Unix(1795482060, int64(i)*1000),
		Fields: []pbx.Field{{Key: "Device", Value: "PJSIP/101"}, {Key: "Seq", Value: fmt.Sprint(i)}},
	}
}

func TestEventsOnOff(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.send("Action: Login", "ActionID: gt-1", "Username: admin", "Secret: secret", "Events: off")
	c.expect("Response: Success\r\nActionID: gt-1\r\nMessage: Authentication accepted\r\n\r\n")
	// No FullyBooted, no SuccessfulAuth, no PBX event: Ping's answer comes next.
	s.PBXEvent(testEvent("DeviceStateChange", 1))
	c.ping("p1")

	c.send("Action: Events", "ActionID: e1", "EventMask: on")
	c.expect("Response: Success\r\nActionID: e1\r\nEvents: On\r\n\r\n")
	s.PBXEvent(testEvent("DeviceStateChange", 2))
	c.expect("Event: DeviceStateChange\r\nPrivilege: call,all\r\nTimestamp: 1795482060.000002\r\n" +
		"Device: PJSIP/101\r\nSeq: 2\r\n\r\n")

	// A class list: cdr only.
	c.send("Action: Events", "ActionID: e2", "EventMask: cdr")
	c.expect("Response: Success\r\nActionID: e2\r\nEvents: On\r\n\r\n")
	s.PBXEvent(testEvent("Newstate", 3))
	s.PBXEvent(testEvent("Cdr", 4))
	if m := c.msg(); m.Get("Event") != "Cdr" || m.Get("Seq") != "4" {
		t.Fatalf("got %v, want only the Cdr", m)
	}

	c.send("Action: Events", "ActionID: e3", "EventMask: off")
	c.expect("Response: Success\r\nActionID: e3\r\nEvents: Off\r\n\r\n")
	s.PBXEvent(testEvent("Cdr", 5))
	c.ping("p2")

	c.send("Action: Events", "ActionID: e4")
	c.expect("Response: Error\r\nActionID: e4\r\nMessage: Invalid event mask\r\n\r\n")
}

func TestEventsWithoutTimestamps(t *testing.T) {
	s := startServer(t, func(c *Config) { c.TimestampEvents = false })
	c := dial(t, s.Addr())
	c.login()
	s.PBXEvent(testEvent("DeviceStateChange", 1))
	c.expect("Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/101\r\nSeq: 1\r\n\r\n")
}

func TestBroadcastKeepsOrder(t *testing.T) {
	s := startServer(t, nil)
	a, b := dial(t, s.Addr()), dial(t, s.Addr())
	a.login()
	b.login()
	if m := a.msg(); m.Get("Event") != "SuccessfulAuth" { // b's login, seen by a
		t.Fatalf("a got %v, want b's SuccessfulAuth", m)
	}
	unauthed := dial(t, s.Addr())
	const n = 500
	go func() {
		for i := range n {
			s.PBXEvent(testEvent("DeviceStateChange", i))
		}
	}()
	for _, c := range []*client{a, b} {
		for i := range n {
			if m := c.msg(); m.Get("Seq") != fmt.Sprint(i) {
				t.Fatalf("event %d: got %v", i, m)
			}
		}
	}
	unauthed.send("Action: Logoff")
	unauthed.expect("Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n\r\n")
}

func TestSlowClientIsDisconnected(t *testing.T) {
	s := startServer(t, func(c *Config) { c.QueueLen = 4 })
	slow, fast := dial(t, s.Addr()), dial(t, s.Addr())
	slow.login()
	fast.login()
	// slow never reads again. Big events fill the socket buffers, then its
	// queue of 4; PBXEvent must return every time all the same, while fast,
	// which keeps up, gets every event in order.
	big := strings.Repeat("x", 64<<10)
	next, returned := make(chan int), make(chan struct{})
	go func() {
		for i := range next {
			e := testEvent("UserEvent", i)
			e.Fields = append(e.Fields, pbx.Field{Key: "Body", Value: big})
			s.PBXEvent(e)
			returned <- struct{}{}
		}
	}()
	defer close(next)
	sent := 0
	for ; s.sessionCount() == 2; sent++ {
		if sent == 2000 {
			t.Fatal("slow client still connected after 2000 events")
		}
		next <- sent
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("PBXEvent blocked on a slow client")
		}
		if m := fast.msg(); m.Get("Seq") != fmt.Sprint(sent) {
			t.Fatalf("fast client event %d: got Seq %q", sent, m.Get("Seq"))
		}
	}
	if !strings.Contains(s.logs.String(), "too far behind") {
		t.Errorf("no warning logged: %s", s.logs.String())
	}
	t.Logf("slow client dropped after %d events", sent)
	fast.ping("alive")
}

type channels []ChannelInfo

func (c channels) ShowChannels() []ChannelInfo { return c }

// CoreShowChannels as Asterisk 22's action_coreshowchannels frames it
// (main/manager.c): the channel block, then Application, ApplicationData,
// Duration and BridgeId.
func TestCoreShowChannels(t *testing.T) {
	trunk := trunkLeg()
	trunk.State, trunk.Priority = pbx.StateUp, 2
	list := channels{{
		Channel: trunk, BridgeID: "6316f43c-eecf-4383-a8db-fbd3eb569fcd",
		Application: "Dial", ApplicationData: "PJSIP/101,20,tU(sub-record)",
		Created: time.Unix(1795482050-3723, 0),
	}}
	s := startServer(t, func(c *Config) { c.Channels = list })
	c := dial(t, s.Addr())
	c.login()
	c.send("Action: CoreShowChannels", "ActionID: cs1")
	c.expect("Response: Success\r\nActionID: cs1\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n")
	c.expect("Event: CoreShowChannel\r\nActionID: cs1\r\n" +
		"Channel: PJSIP/trunk-00000000\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n" +
		"CallerIDNum: 2125559876\r\nCallerIDName: John Smith\r\nConnectedLineNum: <unknown>\r\n" +
		"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\n" +
		"Exten: 2125550100\r\nPriority: 2\r\nUniqueid: 1795482057.0\r\nLinkedid: 1795482057.0\r\n" +
		"Application: Dial\r\nApplicationData: PJSIP/101,20,tU(sub-record)\r\nDuration: 01:02:03\r\n" +
		"BridgeId: 6316f43c-eecf-4383-a8db-fbd3eb569fcd\r\n\r\n")
	c.expect("Event: CoreShowChannelsComplete\r\nActionID: cs1\r\nEventList: Complete\r\nListItems: 1\r\n\r\n")
}

// Without a ChannelLister the server lists the channels its own events
// show live: created by Newchannel, updated by every event that shows
// them, bridged by BridgeEnter, running what Newexten says (a dialled
// channel stays the Dial's outgoing line), gone at Hangup; the list sits
// in the stream where the events it reflects end.
func TestCoreShowChannelsFromEvents(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.login()
	trunk, alice := trunkLeg(), aliceLeg()
	bridge := pbx.Bridge{Uniqueid: "6316f43c-eecf-4383-a8db-fbd3eb569fcd", Type: "basic", Technology: "simple_bridge"}
	at := func(sec int) time.Time { return time.Unix(1795482057+int64(sec), 0) }
	ev := func(name string, sec int, ch, dest *pbx.Channel, fields ...pbx.Field) {
		s.PBXEvent(pbx.Event{Name: name, Time: at(sec), Channel: ch, Dest: dest, Fields: fields})
	}
	ev("Newchannel", 0, &trunk, nil)
	ev("Newexten", 0, &trunk, nil, pbx.Field{Key: "Application", Value: "Dial"}, pbx.Field{Key: "AppData", Value: "PJSIP/101,20,tU(sub-record)"})
	ev("Newchannel", 0, &alice, nil)
	ev("DialBegin", 0, &trunk, &alice, pbx.Field{Key: "DialString", Value: "101"})
	alice.State = pbx.StateUp
	ev("Newstate", 3, &alice, nil)
	ev("Newexten", 3, &alice, nil, pbx.Field{Key: "Application", Value: "MixMonitor"}, pbx.Field{Key: "AppData", Value: "x.wav,b"})
	trunk.State = pbx.StateUp
	ev("Newstate", 3, &trunk, nil)
	for _, ch := range []*pbx.Channel{&alice, &trunk} {
		s.PBXEvent(pbx.Event{Name: "BridgeEnter", Time: at(3), Bridge: &bridge, Channel: ch})
	}
	s.clock.Set(at(10))
	list := func(id string) []Message {
		t.Helper()
		var out []Message
		c.send("Action: CoreShowChannels", "ActionID: "+id)
		for {
			m := c.msg()
			switch m.Get("Event") {
			case "CoreShowChannel":
				out = append(out, m)
			case "CoreShowChannelsComplete":
				if m.Get("ListItems") != fmt.Sprint(len(out)) {
					t.Fatalf("ListItems %s, %d listed", m.Get("ListItems"), len(out))
				}
				return out
			}
		}
	}
	got := list("l1")
	if len(got) != 2 {
		t.Fatalf("listed %v, want the trunk and 101", got)
	}
	for i, want := range []struct{ ch, state, app, data, dur string }{
		{"PJSIP/trunk-00000000", "6", "Dial", "PJSIP/101,20,tU(sub-record)", "00:00:10"},
		{"PJSIP/101-00000001", "6", "AppDial", "(Outgoing Line)", "00:00:10"},
	} {
		m := got[i]
		if m.Get("Channel") != want.ch || m.Get("ChannelState") != want.state || m.Get("Application") != want.app ||
			m.Get("ApplicationData") != want.data || m.Get("Duration") != want.dur || m.Get("BridgeId") != bridge.Uniqueid {
			t.Errorf("channel %d: %v, want %+v in %s", i, m, want, bridge.Uniqueid)
		}
	}
	s.PBXEvent(pbx.Event{Name: "BridgeLeave", Time: at(10), Bridge: &bridge, Channel: &alice})
	ev("Hangup", 10, &alice, nil, pbx.Field{Key: "Cause", Value: "16"})
	for {
		// The events before the list, then the list without 101.
		if m := c.msg(); m.Get("Event") == "Hangup" {
			break
		}
	}
	got = list("l2")
	if len(got) != 1 || got[0].Get("Channel") != "PJSIP/trunk-00000000" || got[0].Get("BridgeId") != bridge.Uniqueid {
		t.Errorf("after 101's hangup: %v", got)
	}
}

// A held server drops its sessions and refuses connections until
// released.
func TestHold(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s.Addr())
	c.login()
	s.Hold()
	c.expectEOF()
	conn, err := net.Dial("tcp", s.Addr())
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
			t.Error("a held server greets")
		}
		conn.Close()
	}
	s.Release()
	dial(t, s.Addr()).login()
}

func TestCustomAction(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Actions = map[string]Action{"QueuePause": func(req Message) []Message {
			return []Message{Success(req, "Interface paused successfully")}
		}}
	})
	c := dial(t, s.Addr())
	c.login()
	c.send("Action: queuepause", "ActionID: gt-4", "Interface: PJSIP/103", "Paused: true")
	_, packets := capturePackets(t, "08_queue_member_pause.log")
	for _, p := range packets {
		if strings.HasPrefix(p, "Response: Success\r\nActionID: gt-4\r\n") {
			c.expect(p) // the real answer to this QueuePause
		}
	}
	if _, err := NewServer(Config{Actions: map[string]Action{"Login": nil}}); err == nil {
		t.Error("overriding Login accepted")
	}
}
