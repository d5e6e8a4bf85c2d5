package ami

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// translator turns one AMI event into a signal. It returns errSkip for an
// event that carries nothing to report, and another error for an event that
// lacks what its kind needs (logged, then dropped).
type translator func(m Message) (signal.Signal, error)

// errSkip marks an event that is deliberately not translated.
var errSkip = errors.New("skip event")

// translators maps an AMI event name (lower case) to its translation. Events
// without an entry are ignored. Field names follow Asterisk 22's AMI event
// documentation; the queue, transfer and recording ones are in transfer.go.
var translators = map[string]translator{
	"newchannel":         legSignal(signal.LegCreated),
	"newstate":           legSignal(signal.StateChanged),
	"dialbegin":          dialSignal(signal.DialBegin),
	"dialstate":          dialSignal(signal.DialState),
	"dialend":            dialSignal(signal.DialEnd),
	"bridgeenter":        bridgeSignal(signal.BridgeEnter),
	"bridgeleave":        bridgeSignal(signal.BridgeLeave),
	"hangup":             hangupSignal,
	"userevent":          userSignal,
	"blindtransfer":      blindTransferSignal,
	"attendedtransfer":   attendedTransferSignal,
	"queuecallerjoin":    callerSignal(signal.QueueJoin),
	"queuecallerleave":   callerSignal(signal.QueueLeave),
	"queuecallerabandon": callerSignal(signal.QueueAbandon),
	"agentcalled":        agentSignal(signal.AgentCalled),
	"agentringnoanswer":  agentSignal(signal.AgentRingNoAnswer),
	"agentconnect":       agentSignal(signal.AgentConnect),
	"agentcomplete":      agentSignal(signal.AgentComplete),
	"queuememberadded":   memberSignal(signal.MemberAdded),
	"queuememberremoved": memberSignal(signal.MemberRemoved),
	"queuememberpause":   memberSignal(signal.MemberPaused),
	"queuememberstatus":  memberSignal(signal.MemberStatus),
	"localbridge":        localBridgeSignal,
	"mixmonitorstart":    legSignal(signal.RecordingStarted),
	"mixmonitorstop":     legSignal(signal.RecordingStopped),
	"cdr":                cdrSignal,
	"chanspystart":       spySignal(signal.SpyStarted),
	"chanspystop":        spySignal(signal.SpyStopped),
}

// spySignal translates ChanSpyStart/ChanSpyStop: the Spyer block is the
// supervisor's leg, the Spyee block the leg listened in on.
func spySignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, "Spyer"), Peer: legOf(m, "Spyee")}
		if s.Leg.ID == "" {
			return signal.Signal{}, errors.New("no SpyerUniqueid")
		}
		return s, nil
	}
}

// translate returns the signal for event m, received at recv. The signal's
// time is the event's Timestamp header (present when manager.conf has
// timestampevents=yes), else recv; it is expressed in loc.
func translate(m Message, recv time.Time, loc *time.Location) (signal.Signal, error) {
	name := m.Get("Event")
	tr, ok := translators[strings.ToLower(name)]
	if !ok {
		tr, ok = dialplanTranslators[strings.ToLower(name)]
	}
	if !ok {
		return signal.Signal{}, errSkip
	}
	s, err := tr(m)
	if err != nil {
		return signal.Signal{}, fmt.Errorf("translate %s event: %w", name, err)
	}
	s.Time = recv
	if ts, ok := m.Lookup("Timestamp"); ok {
		if t, err := parseTimestamp(ts); err == nil {
			s.Time = t
		}
	}
	s.Time = s.Time.In(loc)
	return s, nil
}

// legSignal translates events about one channel (Newchannel, Newstate).
func legSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		leg := legOf(m, "")
		if leg.ID == "" {
			return signal.Signal{}, errors.New("no Uniqueid")
		}
		return signal.Signal{Kind: kind, Leg: leg}, nil
	}
}

// dialSignal translates DialBegin/DialState/DialEnd: the Channel block is the
// dialling leg (absent when Originate dials without a caller), the Dest block
// the dialled one.
func dialSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, ""), Peer: legOf(m, "Dest"),
			DialStatus: m.Get("DialStatus"), DialString: m.Get("DialString")}
		if s.Peer.ID == "" {
			return signal.Signal{}, errors.New("no DestUniqueid")
		}
		return s, nil
	}
}

// bridgeSignal translates BridgeEnter/BridgeLeave.
func bridgeSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, ""), BridgeID: m.Get("BridgeUniqueid")}
		if s.Leg.ID == "" {
			return signal.Signal{}, errors.New("no Uniqueid")
		}
		if s.BridgeID == "" {
			return signal.Signal{}, errors.New("no BridgeUniqueid")
		}
		return s, nil
	}
}

// hangupSignal translates Hangup. An unreadable Cause stays 0 (Asterisk's
// "Unknown"), which is what Asterisk itself reports when it has none.
func hangupSignal(m Message) (signal.Signal, error) {
	s := signal.Signal{Kind: signal.Hangup, Leg: legOf(m, ""), CauseText: m.Get("Cause-txt")}
	if s.Leg.ID == "" {
		return signal.Signal{}, errors.New("no Uniqueid")
	}
	s.Cause, _ = strconv.Atoi(strings.TrimSpace(m.Get("Cause")))
	return s, nil
}

// userSignal translates UserEvent, raised by the dialplan's UserEvent()
// (then with the channel block, which becomes Leg) or by the UserEvent
// action. Name is the UserEvent header; Data holds every other header but
// the framing ones (Event, Privilege, Timestamp), the first value of a
// repeated key winning as in Message.Get.
func userSignal(m Message) (signal.Signal, error) {
	name := m.Get("UserEvent")
	if name == "" {
		return signal.Signal{}, errors.New("no UserEvent name")
	}
	data := make(map[string]string, len(m))
	for _, f := range m {
		switch strings.ToLower(f.Key) {
		case "event", "privilege", "timestamp", "userevent":
			continue
		}
		if _, dup := data[f.Key]; !dup {
			data[f.Key] = f.Value
		}
	}
	return signal.Signal{Kind: signal.UserEvent, Leg: legOf(m, ""), Name: name, Data: data}, nil
}

// legOf reads the channel block whose keys start with prefix ("" for
// Channel, Uniqueid, ...; "Dest" for DestChannel, DestUniqueid, ...).
func legOf(m Message, prefix string) signal.Leg {
	name := m.Get(prefix + "Channel")
	return signal.Leg{
		ID:            m.Get(prefix + "Uniqueid"),
		ChainID:       m.Get(prefix + "Linkedid"),
		Name:          name,
		Endpoint:      endpointOf(name),
		CallerNum:     known(m.Get(prefix + "CallerIDNum")),
		CallerName:    known(m.Get(prefix + "CallerIDName")),
		ConnectedNum:  known(m.Get(prefix + "ConnectedLineNum")),
		ConnectedName: known(m.Get(prefix + "ConnectedLineName")),
		Context:       m.Get(prefix + "Context"),
		Exten:         m.Get(prefix + "Exten"),
		State:         stateOf(m.Get(prefix+"ChannelState"), m.Get(prefix+"ChannelStateDesc")),
	}
}

// known maps Asterisk's placeholder for an absent caller id to "".
func known(v string) string {
	if v == "<unknown>" {
		return ""
	}
	return v
}

// stateOf reads ChannelState, whose numbers signal.State shares; the
// description is the fallback for peers that send only the text.
func stateOf(num, desc string) signal.State {
	if n, err := strconv.Atoi(strings.TrimSpace(num)); err == nil && n >= 0 && n <= int(signal.StateBusy) {
		return signal.State(n)
	}
	for st := signal.StateDown; st <= signal.StateBusy; st++ {
		if strings.EqualFold(st.String(), desc) {
			return st
		}
	}
	return signal.StateDown
}

// endpointOf returns the device or trunk part of a channel name: the text
// between the technology's slash and the channel's sequence suffix.
//
//	PJSIP/101-00000001                  → 101
//	PJSIP/my-trunk-0000000a             → my-trunk (only the last hex run is the suffix)
//	SIP/foo-0000a                       → foo
//	IAX2/peer-1234, DAHDI/1-1           → peer, 1
//	Local/101@from-internal-00000005;1  → 101@from-internal (";1"/";2" half dropped)
//	Message/ast_msg_queue               → ast_msg_queue (no suffix)
//
// Asterisk's "<ZOMBIE>" and "<MASQ>" markers on masqueraded channels are
// dropped. A name without a slash has no endpoint.
func endpointOf(name string) string {
	_, rest, ok := strings.Cut(name, "/")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "<")
	if i := strings.LastIndexByte(rest, ';'); i >= 0 && isDigits(rest[i+1:]) {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 && isHex(rest[i+1:]) {
		rest = rest[:i]
	}
	return rest
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseTimestamp reads Asterisk's event Timestamp, epoch seconds with a
// fraction ("1795482057.322272"), exactly (no float rounding).
func parseTimestamp(v string) (time.Time, error) {
	secs, frac, _ := strings.Cut(strings.TrimSpace(v), ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("parse timestamp %q: not epoch seconds", v)
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		if !isDigits(frac) {
			return time.Time{}, fmt.Errorf("parse timestamp %q: bad fraction", v)
		}
		ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Unix(s, ns), nil
}
