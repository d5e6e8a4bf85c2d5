package recording_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/service"
	"github.com/callhook/callhook/core/webhooktest"
)

// The mobile-reconnect AMI sequence: 101 answers at +3 s, its leg drops at
// +9 s while the caller stays in the bridge, a new leg of 101 joins at
// +11 s, and the caller hangs up at +21 s. Its two talk periods are 6 s
// and 10 s.
const reconnectSeq = "../../fixtures/ami/sequences/mobile_reconnect.log"

// TestMobileReconnectRecording: a conversation recorded in two files (a
// mobile device that lost its connection starts a new file) gives one
// recording POST with both MP3 links, in order, each downloading over
// HTTPS with its talk period's duration; tampered and expired tokens get
// 403; the analytics POST follows. The PBX here is a real TCP AMI peer
// replaying the recorded sequence with Asterisk 22's MixMonitor events
// (Newexten, VarSet MIXMONITOR_FILENAME, MixMonitorStart: no file name in
// the last) after each answer, and the WAV files are written by the test
// as MixMonitor would leave them. full_fields with body placement: the
// call-end fields follow FILES in the body.
func TestMobileReconnectRecording(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	rc := recordingsConfig(t)
	rc.FullFields, rc.Placement = true, "body"
	wavs := map[string]time.Duration{"1795483000.1": 6 * time.Second, "1795483000.2": 10 * time.Second}
	for uid, d := range wavs {
		writeWAV(t, filepath.Join(rc.MonitorDir, "20261124-011643-"+uid+".wav"), d)
	}
	stream := withMixMonitor(t, reconnectSeq, []string{"1795483000.1", "1795483000.2"})
	addr := amiPeer(t, stream)

	recv := webhooktest.NewServer()
	defer recv.Close()
	target, _ := url.Parse(recv.URL() + "/hook")
	svc, err := service.New(&config.Config{
		File:       "reconnect.ini",
		PBX:        utcPBX(addr),
		Delivery:   config.Delivery{Dir: t.TempDir()},
		Webhooks:   []config.Webhook{{Name: "crm", URL: target, Dialect: "3cx", Timeout: 5 * time.Second, AllowPrivate: true}},
		Recordings: *rc,
	}, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	if err := svc.WaitSync(ctx, "reconnect"); err != nil {
		t.Fatal(err)
	}
	p := waitPosts(t, recv, 1, 15*time.Second)
	if len(p.recordings) != 1 || strings.Join(p.order, ",") != "recording,analytics" {
		t.Fatalf("POSTs in order %v, want one recording then one analytics", p.order)
	}
	var body map[string]any
	if err := json.Unmarshal(p.recordings[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	const id = "261124011640_0-1" // 1795483000 is 2026-11-24 01:16:40 UTC
	if body["id"] != id || body["event"] != "incoming" || body["finishtype"] != "Ok" || body["callerid"] != "2125559876" {
		t.Errorf("recording POST fields: %s", p.recordings[0].Body)
	}
	if !bytes.HasPrefix(p.recordings[0].Body, []byte(`{"FILES":[`)) {
		t.Errorf("body does not start with FILES: %s", p.recordings[0].Body)
	}
	links := files(t, p.recordings[0])
	if len(links) != 2 {
		t.Fatalf("FILES = %v, want 2 links", links)
	}
	c := client(svc.Recorder.CertPool())
	for i, want := range []time.Duration{6 * time.Second, 10 * time.Second} {
		name := fmt.Sprintf("%s-%d.mp3", id, i+1)
		if !strings.Contains(links[i], "/webapi/recording/"+name+"?token=") {
			t.Errorf("link %d = %s, want …/%s?token=…", i+1, links[i], name)
		}
		downloadMP3(t, c, links[i], want)
		refused(t, c, svc.Recorder.URL(), links[i])
	}
	var an map[string]any
	if err := json.Unmarshal(p.analytics[0].Body, &an); err != nil || an["id"] != id ||
		!strings.Contains(fmt.Sprint(an["SUMMARY"]), "of 16.0 s") {
		t.Errorf("analytics POST %s (%v)", p.analytics[0].Body, err)
	}
	cancel()
	<-done
}

// withMixMonitor reads an AMI sequence file (banner, login response,
// events) and inserts, after the BridgeEnter of each leg in uids, the
// MixMonitor events Asterisk 22 raises for sub-record: Newexten
// MixMonitor with the relative file name as AppData, then MixMonitorStart,
// which names no file. The VarSet MIXMONITOR_FILENAME is left out here,
// so the connector must resolve the Newexten name in monitor_dir (the
// pbxsim test covers the VarSet). It returns the events, ending with the
// sync user event "reconnect".
func withMixMonitor(t *testing.T, file string, uids []string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := bytes.Cut(data, []byte("\r\n"))                      // banner
	_, events, _ := bytes.Cut(rest, []byte("\r\n\r\n"))                // login response
	if i := bytes.Index(events, []byte("Response: Goodbye")); i >= 0 { // the capture's own Logoff
		events = events[:i]
	}
	var out bytes.Buffer
	for _, pkt := range bytes.Split(events, []byte("\r\n\r\n")) {
		if len(bytes.TrimSpace(pkt)) == 0 {
			continue
		}
		out.Write(pkt)
		out.WriteString("\r\n\r\n")
		s := string(pkt)
		for _, uid := range uids {
			if strings.HasPrefix(s, "Event: BridgeEnter") && strings.Contains(s, "\r\nUniqueid: "+uid+"\r\n") {
				ts := header(s, "Timestamp")
				chanBlock := fmt.Sprintf("Channel: %s\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nContext: sub-record\r\nExten: s\r\nUniqueid: %s\r\nLinkedid: 1795483000.0\r\n",
					header(s, "Channel"), uid)
				name := "20261124-011643-" + uid + ".wav"
				fmt.Fprintf(&out, "Event: Newexten\r\nPrivilege: dialplan,all\r\nTimestamp: %s\r\n%sExtension: s\r\nApplication: MixMonitor\r\nAppData: %s,b\r\n\r\n", ts, chanBlock, name)
				fmt.Fprintf(&out, "Event: MixMonitorStart\r\nPrivilege: call,all\r\nTimestamp: %s\r\n%s\r\n", ts, chanBlock)
			}
		}
	}
	out.WriteString("Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: CallhookSync\r\nToken: reconnect\r\n\r\n")
	return out.Bytes()
}

func header(pkt, key string) string {
	for _, l := range strings.Split(pkt, "\r\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && k == key {
			return v
		}
	}
	return ""
}

// amiPeer is a PBX's manager interface on 127.0.0.1: it greets, accepts
// the Login, sends events, and answers every further action with
// Success (Ping) or Goodbye (Logoff).
func amiPeer(t *testing.T, events []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		tp := textproto.NewReader(bufio.NewReader(conn))
		if _, err := conn.Write([]byte("Asterisk Call Manager/9.0.0\r\n")); err != nil {
			return
		}
		for first := true; ; first = false {
			h, err := tp.ReadMIMEHeader()
			if err != nil {
				return
			}
			resp := fmt.Sprintf("Response: Success\r\nActionID: %s\r\n", h.Get("ActionID"))
			switch strings.ToLower(h.Get("Action")) {
			case "login":
				resp += "Message: Authentication accepted\r\n\r\n"
			case "logoff":
				resp = fmt.Sprintf("Response: Goodbye\r\nActionID: %s\r\nMessage: Thanks for all the fish.\r\n\r\n", h.Get("ActionID"))
			default:
				resp += "Ping: Pong\r\n\r\n"
			}
			if _, err := conn.Write([]byte(resp)); err != nil {
				return
			}
			if first {
				if _, err := conn.Write(events); err != nil {
					return
				}
			}
		}
	}()
	return ln.Addr().String()
}

// writeWAV writes d of 16-bit 8 kHz mono PCM — a 440 Hz tone with 200 ms
// pauses every second, so it has speech-like bursts — with its header
// patched, as MixMonitor leaves a file it closed.
func writeWAV(t *testing.T, path string, d time.Duration) {
	t.Helper()
	n := int(d.Seconds() * 8000)
	data := make([]byte, 2*n)
	for i := range n {
		v := 0.0
		if i%8000 < 6400 {
			v = 8000 * math.Sin(2*math.Pi*440*float64(i)/8000)
		}
		binary.LittleEndian.PutUint16(data[2*i:], uint16(int16(v)))
	}
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], 8000)
	binary.LittleEndian.PutUint32(h[28:], 16000)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(h, data...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// utcPBX is an AMI [pbx] at addr whose wall clock is UTC.
func utcPBX(addr string) config.PBX {
	p := config.NewPBX("ami", map[string]string{"address": addr, "username": "admin", "secret": "secret"})
	p.Timezone = time.UTC
	return p
}
