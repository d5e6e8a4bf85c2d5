package esl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// client is a raw event socket client for the server's tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// frame reads one frame: its headers and body.
func (c *client) frame() (map[string]string, string) {
	c.t.Helper()
	h := map[string]string{}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if line == "\n" {
			if len(h) == 0 {
				continue
			}
			break
		}
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		h[k] = v
	}
	n, _ := strconv.Atoi(h["Content-Length"])
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		c.t.Fatal(err)
	}
	return h, string(b)
}

func (c *client) send(cmd string) (map[string]string, string) {
	c.t.Helper()
	fmt.Fprintf(c.conn, "%s\n\n", cmd)
	return c.frame()
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAuth(t *testing.T) {
	s := start(t, Config{Password: "pw"})
	c := dial(t, s)
	if h, _ := c.frame(); h["Content-Type"] != "auth/request" {
		t.Fatalf("greeting %v", h)
	}
	if h, _ := c.send("api status"); h["Reply-Text"] != "-ERR command not found" {
		t.Errorf("a command before auth: %v", h)
	}
	if h, _ := c.send("auth wrong"); h["Reply-Text"] != "-ERR invalid" {
		t.Errorf("wrong password: %v", h)
	}
	if h, body := c.frame(); h["Content-Type"] != "text/disconnect-notice" || !strings.Contains(body, "Disconnected, goodbye.") {
		t.Errorf("after a failed auth: %v %q", h, body)
	}
	c = dial(t, s)
	c.frame()
	if h, _ := c.send("auth pw"); h["Reply-Text"] != "+OK accepted" {
		t.Errorf("auth: %v", h)
	}
	if h, _ := c.send("event bogus words"); h["Reply-Text"] != "-ERR no keywords supplied" {
		t.Errorf("no event names: %v", h)
	}
	if h, _ := c.send("exit"); h["Reply-Text"] != "+OK bye" {
		t.Errorf("exit: %v", h)
	}
	if h, _ := c.frame(); h["Content-Type"] != "text/disconnect-notice" {
		t.Errorf("after exit: %v", h)
	}
}

func authed(t *testing.T, s *Server, pw string) *client {
	t.Helper()
	c := dial(t, s)
	c.frame()
	if h, _ := c.send("auth " + pw); h["Reply-Text"] != "+OK accepted" {
		t.Fatalf("auth: %v", h)
	}
	return c
}

// The events a subscription names, in plain (URL-encoded) or json, and
// only those; a filter narrows them.
func TestSubscriptions(t *testing.T) {
	s := start(t, Config{})
	plain := authed(t, s, DefaultPassword)
	if h, _ := plain.send("event plain CHANNEL_CREATE CUSTOM callhook::sync"); h["Reply-Text"] != "+OK event listener enabled plain" {
		t.Fatalf("subscribe: %v", h)
	}
	js := authed(t, s, DefaultPassword)
	if h, _ := js.send("event json ALL"); h["Reply-Text"] != "+OK event listener enabled json" {
		t.Fatalf("subscribe: %v", h)
	}
	at := time.Unix(1796228924, 500000000)
	ch := &pbx.Channel{Name: "PJSIP/trunk-00000000", State: pbx.StateRing, CallerIDNum: "2125559876",
		CallerIDName: "John Smith", Exten: "2125550100", Context: "from-trunk", Uniqueid: "1.0", Linkedid: "1.0"}
	s.PBXEvent(pbx.Event{Name: "Newchannel", Time: at, Channel: ch})
	s.PBXEvent(pbx.Event{Name: "UserEvent", Time: at, Fields: []pbx.Field{{Key: "UserEvent", Value: "CallhookSync"}, {Key: "Token", Value: "t 1"}}})

	h, body := plain.frame()
	if h["Content-Type"] != "text/event-plain" || !strings.HasPrefix(body, "Event-Name: CHANNEL_CREATE\n") ||
		!strings.Contains(body, "Caller-Caller-ID-Name: John%20Smith\n") || !strings.Contains(body, "Channel-Name: sofia/external/2125559876%40127.0.0.1\n") ||
		!strings.Contains(body, "Event-Date-Timestamp: 1796228924500000\n") || !strings.HasSuffix(body, "\n\n") {
		t.Errorf("plain event %v\n%s", h, body)
	}
	if _, body := plain.frame(); !strings.HasPrefix(body, "Event-Subclass: callhook%3A%3Async\nEvent-Name: CUSTOM\n") || !strings.Contains(body, "Token: t%201\n") {
		t.Errorf("custom event\n%s", body)
	}
	h, body = js.frame()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || h["Content-Type"] != "text/event-json" {
		t.Fatalf("json event %v %v: %s", h, err, body)
	}
	if m["Event-Name"] != "CHANNEL_CREATE" || m["Caller-Caller-ID-Name"] != "John Smith" || m["Call-Direction"] != "inbound" {
		t.Errorf("json event %v", m)
	}
	// With a filter set, only the events it matches go out.
	if h, _ := plain.send("filter Event-Subclass callhook::sync"); !strings.HasPrefix(h["Reply-Text"], "+OK filter added.") {
		t.Errorf("filter: %v", h)
	}
	s.PBXEvent(pbx.Event{Name: "Newchannel", Time: at, Channel: &pbx.Channel{Name: "PJSIP/101-00000001", State: pbx.StateRing,
		CallerIDNum: "101", Exten: "102", Uniqueid: "1.1", Linkedid: "1.1"}})
	s.PBXEvent(pbx.Event{Name: "UserEvent", Time: at, Fields: []pbx.Field{{Key: "UserEvent", Value: "CallhookSync"}, {Key: "Token", Value: "2"}}})
	if _, body := plain.frame(); !strings.Contains(body, "Token: 2\n") {
		t.Errorf("filtered stream: %s", body)
	}
}

func TestAPI(t *testing.T) {
	now := time.Unix(1796228924, 0)
	s := start(t, Config{Now: func() time.Time { return now }})
	c := authed(t, s, DefaultPassword)
	if h, body := c.send("api show calls as json"); h["Content-Type"] != "api/response" || body != "{\"row_count\": 0}\n" {
		t.Errorf("no calls: %v %q", h, body)
	}
	s.PBXEvent(pbx.Event{Name: "Newchannel", Time: now, Channel: &pbx.Channel{Name: "PJSIP/trunk-00000000", State: pbx.StateRing,
		CallerIDNum: "2125559876", Exten: "2125550100", Uniqueid: "1.0", Linkedid: "1.0"}})
	_, body := c.send("api show calls as json")
	var doc struct {
		RowCount int                 `json:"row_count"`
		Rows     []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.RowCount != 1 || doc.Rows[0]["cid_num"] != "2125559876" ||
		doc.Rows[0]["direction"] != "inbound" || doc.Rows[0]["b_uuid"] != "" {
		t.Errorf("one call: %v %s", err, body)
	}
	if _, body := c.send("api show channels"); !strings.HasPrefix(body, "uuid,direction,created,") || !strings.HasSuffix(body, "\n1 total.\n") {
		t.Errorf("plain channels: %q", body)
	}
	if _, body := c.send("api strmicroepoch"); body != "1796228924000000" {
		t.Errorf("strmicroepoch %q", body)
	}
	if _, body := c.send("api nosuch thing"); body != "-ERR nosuch Command not found!\n" {
		t.Errorf("unknown command %q", body)
	}
	if _, body := c.send("api originate sofia/gateway/trunk/123 100"); !strings.HasPrefix(body, "-ERR") {
		t.Errorf("originate from a number %q", body)
	}
}

// bgapi answers with the job's id at once and fires BACKGROUND_JOB with
// the command's output; originate has the extension's phone place the
// call under origination_uuid.
func TestBackgroundOriginate(t *testing.T) {
	placed := make(chan [3]string, 1)
	s := start(t, Config{Originate: func(_ context.Context, ext, number, id string) error {
		placed <- [3]string{ext, number, id}
		return nil
	}})
	c := authed(t, s, DefaultPassword)
	c.send("event plain BACKGROUND_JOB")
	h, _ := c.send("bgapi originate {origination_uuid=0b5e8c14-7a2b-4c3e-9f10-2d6a1e5b7c90,ignore_early_media=true}user/101 912125550199 XML default '101 x' 101 30")
	job := h["Job-UUID"]
	if job == "" || h["Reply-Text"] != "+OK Job-UUID: "+job {
		t.Fatalf("bgapi reply %v", h)
	}
	if p := <-placed; p != [3]string{"101", "912125550199", "0b5e8c14-7a2b-4c3e-9f10-2d6a1e5b7c90"} {
		t.Errorf("placed %v", p)
	}
	_, body := c.frame()
	if !strings.Contains(body, "Event-Name: BACKGROUND_JOB\n") || !strings.Contains(body, "Job-UUID: "+job+"\n") ||
		!strings.HasSuffix(body, "\n\n+OK 0b5e8c14-7a2b-4c3e-9f10-2d6a1e5b7c90\n") {
		t.Errorf("BACKGROUND_JOB\n%s", body)
	}
	// The next channel of 101 takes the origination's uuid.
	s.PBXEvent(pbx.Event{Name: "Newchannel", Channel: &pbx.Channel{Name: "PJSIP/101-00000001", State: pbx.StateRing,
		CallerIDNum: "101", Exten: "912125550199", Uniqueid: "1.1", Linkedid: "1.1"}})
	if _, body := c.send("api show channels as json"); !strings.Contains(body, `"uuid":"0b5e8c14-7a2b-4c3e-9f10-2d6a1e5b7c90"`) {
		t.Errorf("the originated channel %s", body)
	}
}

func TestURLEncode(t *testing.T) {
	for in, want := range map[string]string{
		"John Smith":       "John%20Smith",
		"a:b@c":            "a%3Ab%40c",
		"100%":             "100%25",
		"keep %41 as is":   "keep%20%41%20as%20is",
		"plus+and/slash":   "plus%2Band/slash",
		"ünïcode":          "%C3%BCn%C3%AFcode",
		"line\nbreak\ttab": "line%0Abreak%09tab",
	} {
		if got := urlEncode(in); got != want {
			t.Errorf("urlEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// A held server drops its clients and refuses new ones until released.
func TestHold(t *testing.T) {
	s := start(t, Config{})
	c := authed(t, s, DefaultPassword)
	s.Hold()
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("a client outlives Hold")
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
			t.Error("a held server greets")
		}
		conn.Close()
	}
	s.Release()
	authed(t, s, DefaultPassword)
}
