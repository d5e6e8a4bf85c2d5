package callcontrol

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/pbx"
)

// A client's ping is answered long after the last event was written: the
// answer gets a write deadline of its own, not the last event's.
func TestPingAfterQuiet(t *testing.T) {
	s := New(Config{Topology: pbx.DefaultTopology()})
	s.writeTimeout = 50 * time.Millisecond
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := http.PostForm(s.URL()+"/connect/token", url.Values{"client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()},
		"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok Token
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + tok.AccessToken}})}
	conn, _, _, err := d.Dial(context.Background(), strings.Replace(s.URL(), "http://", "ws://", 1)+"/callcontrol/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s.PBXEvent(pbx.Event{Name: "UserEvent", Fields: []pbx.Field{{Key: "UserEvent", Value: "CallhookExtension"},
		{Key: "Extension", Value: "105"}, {Key: "Status", Value: "created"}, {Key: "Name", Value: "Erin 105"}}})
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := wsutil.ReadServerText(conn); err != nil {
		t.Fatalf("the DN's upsert: %v", err)
	}
	written := time.Now()
	waitfor.True(t, 10*time.Second, "the last event's write deadline to pass", func() bool { return time.Since(written) > 4*s.writeTimeout })
	if err := wsutil.WriteClientMessage(conn, ws.OpPing, []byte("p")); err != nil {
		t.Fatal(err)
	}
	h, err := ws.ReadHeader(conn)
	if err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("after the ping: %+v %v, want a pong", h, err)
	}
}
