package pbx

import (
	"strconv"
	"time"
)

// ChannelState numbers follow Asterisk's ChannelState values.
type ChannelState int

// Channel states, as Asterisk numbers and names them.
const (
	StateDown    ChannelState = 0
	StateRing    ChannelState = 4
	StateRinging ChannelState = 5
	StateUp      ChannelState = 6
	StateBusy    ChannelState = 7
)

// Desc is Asterisk's ChannelStateDesc for s.
func (s ChannelState) Desc() string {
	switch s {
	case StateDown:
		return "Down"
	case StateRing:
		return "Ring"
	case StateRinging:
		return "Ringing"
	case StateUp:
		return "Up"
	case StateBusy:
		return "Busy"
	}
	return "Unknown"
}

// Channel is a snapshot of one call leg, with the fields Asterisk puts in an
// AMI channel block. Empty ConnectedLine values are rendered "<unknown>".
type Channel struct {
	Name              string // "PJSIP/101-00000001"
	State             ChannelState
	CallerIDNum       string
	CallerIDName      string
	ConnectedLineNum  string
	ConnectedLineName string
	Language          string // "en"
	AccountCode       string
	Context           string
	Exten             string
	Priority          int
	Uniqueid          string // "1795482057.1"
	Linkedid          string
}

// Bridge is a snapshot of a bridge, with the fields of an AMI bridge block.
type Bridge struct {
	Uniqueid    string
	Type        string // "basic"
	Technology  string // "simple_bridge"
	Creator     string // "" renders "<unknown>"
	Name        string // "" renders "<unknown>"
	NumChannels int
	VideoSource string // "none"
}

// Field is one extra header of an event, in the order it is rendered.
type Field struct {
	Key, Value string
}

// Event is one thing the PBX reports on its manager interface, named and
// shaped as Asterisk 22 names and shapes the AMI event. Rendering follows
// Asterisk: Event, Privilege, Timestamp, then the Bridge block (if any), the
// Channel block (if any), the Dest block (the Channel fields prefixed "Dest"),
// then Fields in order.
type Event struct {
	Name    string // "Newchannel", "DialBegin", "Hangup", ...
	Time    time.Time
	Bridge  *Bridge
	Channel *Channel
	Dest    *Channel
	Fields  []Field
}

// Observer receives the PBX's events in the order they happen. The AMI
// server is one; tests record them. PBXEvent must not block for long and
// must not call back into the PBX.
type Observer interface {
	PBXEvent(e Event)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(e Event)

// PBXEvent calls f(e).
func (f ObserverFunc) PBXEvent(e Event) { f(e) }

// Fields renders c as an AMI channel block whose keys start with prefix
// ("" for Channel, "Dest", "Transferer", "OrigTransferer", ...), in
// Asterisk's order. Empty caller ids render "<unknown>".
func (c *Channel) Fields(prefix string) []Field {
	name := "Channel"
	if prefix != "" {
		name = prefix + "Channel"
	}
	return []Field{
		{name, c.Name},
		{prefix + "ChannelState", strconv.Itoa(int(c.State))},
		{prefix + "ChannelStateDesc", c.State.Desc()},
		{prefix + "CallerIDNum", orDefault(c.CallerIDNum, "<unknown>")},
		{prefix + "CallerIDName", orDefault(c.CallerIDName, "<unknown>")},
		{prefix + "ConnectedLineNum", orDefault(c.ConnectedLineNum, "<unknown>")},
		{prefix + "ConnectedLineName", orDefault(c.ConnectedLineName, "<unknown>")},
		{prefix + "Language", orDefault(c.Language, "en")},
		{prefix + "AccountCode", c.AccountCode},
		{prefix + "Context", c.Context},
		{prefix + "Exten", c.Exten},
		{prefix + "Priority", strconv.Itoa(max(c.Priority, 1))},
		{prefix + "Uniqueid", c.Uniqueid},
		{prefix + "Linkedid", c.Linkedid},
	}
}

// Fields renders b as an AMI bridge block whose keys start with prefix
// ("" for Bridge..., "Orig", "Second" for AttendedTransfer's bridges).
func (b *Bridge) Fields(prefix string) []Field {
	return []Field{
		{prefix + "BridgeUniqueid", b.Uniqueid},
		{prefix + "BridgeType", b.Type},
		{prefix + "BridgeTechnology", b.Technology},
		{prefix + "BridgeCreator", orDefault(b.Creator, "<unknown>")},
		{prefix + "BridgeName", orDefault(b.Name, "<unknown>")},
		{prefix + "BridgeNumChannels", strconv.Itoa(b.NumChannels)},
		{prefix + "BridgeVideoSourceMode", orDefault(b.VideoSource, "none")},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
