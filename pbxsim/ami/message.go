// Package ami serves the Asterisk Manager Interface for pbxsim: the same
// banner, actions and event framing a real Asterisk 22 gives, so that the
// engine's production AMI connector talks to the simulator unchanged.
//
// Server implements pbx.Observer: each PBX event is rendered once (Render)
// and queued to every logged-in session that wants its class and whose
// event filters (Filters) pass it. Each session has a reader goroutine that
// runs actions (Login with Secret or with an MD5 Challenge key, Logoff,
// Ping, Events, Filter, CoreShowChannels, plus Config.Actions)
// and a writer goroutine fed by a bounded queue, so a slow client is
// disconnected rather than allowed to stall the PBX. The framing, texts and
// header order of responses and events follow the Asterisk 22 captures in
// fixtures/ami/asterisk22 and manager.c.
package ami

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// Field is one "Key: Value" line of a message.
type Field struct {
	Key, Value string
}

// Message is one AMI packet: an action, a response or an event. Fields keep
// their order and may repeat, as AMI allows (e.g. Variable, ChanVariable).
type Message []Field

// Get returns the first value of key (case-insensitive), or "".
func (m Message) Get(key string) string {
	for _, f := range m {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// Has reports whether key is present (case-insensitive).
func (m Message) Has(key string) bool {
	for _, f := range m {
		if strings.EqualFold(f.Key, key) {
			return true
		}
	}
	return false
}

// Bytes is the wire form: CRLF-terminated lines and a blank line.
func (m Message) Bytes() []byte {
	var b strings.Builder
	for _, f := range m {
		b.WriteString(f.Key)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// ErrMalformed is returned for a line that is not "Key: Value".
var ErrMalformed = errors.New("ami: malformed line")

// ReadMessage reads one message, skipping blank lines before it. Lines may
// end in CRLF or LF. It returns io.EOF only when no line of a message was
// read. A connection's first line, the banner ("Asterisk Call Manager/11.0.0")
// has no colon: read it with ReadString('\n') before the first ReadMessage.
// Line length is not bounded here; the server reads its input with its own
// bounded reader (see session.go).
func ReadMessage(r *bufio.Reader) (Message, error) {
	var m Message
	for {
		line, err := r.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			if errors.Is(err, io.EOF) && len(m) > 0 {
				return m, io.ErrUnexpectedEOF
			}
			return m, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(m) == 0 {
				if err != nil {
					return nil, io.EOF
				}
				continue
			}
			return m, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return m, fmt.Errorf("%w: %q", ErrMalformed, line)
		}
		m = append(m, Field{Key: strings.TrimSpace(k), Value: strings.TrimPrefix(v, " ")})
		if err != nil {
			return m, io.ErrUnexpectedEOF
		}
	}
}

// privilege is the Privilege header Asterisk 22 gives each event, as seen in
// real captures (and, for the security and system events, as manager.c
// classes them); events not listed get "call,all".
var privilege = map[string]string{
	"FullyBooted":             "system,all",
	"Shutdown":                "system,all",
	"Reload":                  "system,all",
	"SuccessfulAuth":          "security,all",
	"ChallengeSent":           "security,all",
	"InvalidAccountID":        "security,all",
	"InvalidPassword":         "security,all",
	"ChallengeResponseFailed": "security,all",
	"RequestNotAllowed":       "security,all",
	"RequestBadFormat":        "security,all",
	"UserEvent":               "user,all",
	"DTMFBegin":               "dtmf,all",
	"DTMFEnd":                 "dtmf,all",
	"VarSet":                  "dialplan,all",
	"Newexten":                "dialplan,all",
	"Cdr":                     "cdr,all",
	"QueueMemberStatus":       "agent,all",
	"QueueMemberAdded":        "agent,all",
	"QueueMemberRemoved":      "agent,all",
	"QueueMemberPause":        "agent,all",
	"QueueMemberPenalty":      "agent,all",
	"QueueMemberRinginuse":    "agent,all",
	"QueueCallerJoin":         "agent,all",
	"QueueCallerLeave":        "agent,all",
	"QueueCallerAbandon":      "agent,all",
	"AgentCalled":             "agent,all",
	"AgentConnect":            "agent,all",
	"AgentComplete":           "agent,all",
	"AgentRingNoAnswer":       "agent,all",
}

// Timestamp renders t as Asterisk's timestampevents do: epoch seconds with
// microseconds.
func Timestamp(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// Privilege is the Privilege header Asterisk 22 gives the event named name.
func Privilege(name string) string {
	if p, ok := privilege[name]; ok {
		return p
	}
	return "call,all"
}

// Render turns a PBX event into the AMI message Asterisk 22 would send, with
// a Timestamp header when timestamps is true (manager.conf timestampevents).
func Render(e pbx.Event, timestamps bool) Message {
	m := Message{{"Event", e.Name}, {"Privilege", Privilege(e.Name)}}
	if timestamps {
		m = append(m, Field{"Timestamp", Timestamp(e.Time)})
	}
	if b := e.Bridge; b != nil {
		m = appendFields(m, b.Fields(""))
	}
	if c := e.Channel; c != nil {
		m = appendFields(m, c.Fields(""))
	}
	if c := e.Dest; c != nil {
		m = appendFields(m, c.Fields("Dest"))
	}
	for _, f := range e.Fields {
		m = append(m, Field{f.Key, f.Value})
	}
	return m
}

func appendFields(m Message, fs []pbx.Field) Message {
	for _, f := range fs {
		m = append(m, Field{f.Key, f.Value})
	}
	return m
}

// ReadSession reads a recorded manager session (a capture of what a client
// received): the banner line, then every message to the end.
func ReadSession(r *bufio.Reader) ([]Message, error) {
	if _, err := r.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("read banner: %w", err)
	}
	var out []Message
	for {
		m, err := ReadMessage(r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("message %d: %w", len(out)+1, err)
		}
		out = append(out, m)
	}
}

// Simulated reports whether m is of a kind pbxsim raises, so that a real
// Asterisk capture and pbxsim's stream can be compared on what both have.
// pbxsim does not raise VarSet, QueueMemberStatus, the login events, or
// the Queue:<name>_avail device states; responses (no Event) are left out
// too.
func Simulated(m Message) bool {
	switch m.Get("Event") {
	case "", "VarSet", "QueueMemberStatus", "FullyBooted", "SuccessfulAuth":
		return false
	case "DeviceStateChange":
		return !strings.HasPrefix(m.Get("Device"), "Queue:")
	}
	return true
}
