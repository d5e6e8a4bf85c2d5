package ami

import (
	"bytes"
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

// translators maps an AMI event name, spelt as Asterisk 22 spells it (its
// event filters compare names case-sensitively; see EventFilters), to its
// translation. Events without an entry are ignored. Field names follow
// Asterisk 22's AMI event documentation; the queue, transfer and recording
// ones are in transfer.go, the dialplan and user events in dialplan.go.
var translators = map[string]translator{
	"Newchannel":         legSignal(signal.LegAppeared),
	"Newstate":           newstateSignal,
	"DialBegin":          dialBeginSignal,
	"DialState":          dialStateSignal,
	"DialEnd":            dialEndSignal,
	"BridgeEnter":        bridgeSignal(signal.Joined),
	"BridgeLeave":        bridgeSignal(signal.Left),
	"Hangup":             hangupSignal,
	"UserEvent":          userSignal,
	"BlindTransfer":      blindTransferSignal,
	"AttendedTransfer":   attendedTransferSignal,
	"QueueCallerJoin":    callerSignal(signal.QueueJoined),
	"QueueCallerLeave":   callerSignal(signal.QueueLeft),
	"QueueCallerAbandon": callerSignal(signal.QueueAbandoned),
	"AgentCalled":        agentSignal(signal.AgentRinging),
	"AgentRingNoAnswer":  agentSignal(signal.AgentNoAnswer),
	"AgentConnect":       agentSignal(signal.AgentAnswered),
	"AgentComplete":      agentSignal(signal.AgentDone),
	"QueueMemberAdded":   memberSignal(signal.MemberAdded),
	"QueueMemberRemoved": memberSignal(signal.MemberRemoved),
	"QueueMemberPause":   memberSignal(signal.MemberPaused),
	"QueueMemberStatus":  memberSignal(signal.MemberState),
	"MixMonitorStart":    legSignal(signal.RecordingStarted),
	"MixMonitorStop":     legSignal(signal.RecordingStopped),
	"Cdr":                cdrSignal,
	"ChanSpyStart":       spySignal(signal.ListenStarted),
	"ChanSpyStop":        spySignal(signal.ListenStopped),
	"Newexten":           newextenSignal,
	// ReceiveFAX: res_fax's event when a received fax completed; a fax
	// the dialplan's Newexten did not announce is reported by it.
	"ReceiveFAX": func(m Message) (signal.Signal, error) { return channelSignal(m, signal.FaxReceiving) },
}

// translatorByName is translators by lower-case name: the connector reads
// event names without case, as it reads keys.
var translatorByName = func() map[string]translator {
	m := make(map[string]translator, len(translators))
	for name, tr := range translators {
		m[strings.ToLower(name)] = tr
	}
	return m
}()

// translatorFor finds the translator of an event name: as Asterisk spells
// it without folding (no allocation: this runs for every event), in any
// other case with.
func translatorFor(name string) (translator, bool) {
	if tr, ok := translators[name]; ok {
		return tr, true
	}
	// Lowered into a stack buffer: a map index by string(bytes) does
	// not copy, and the events translated by other means (Newexten,
	// VarSet) come this way every time.
	var buf [64]byte
	if len(name) > len(buf) {
		tr, ok := translatorByName[strings.ToLower(name)]
		return tr, ok
	}
	lower := buf[:len(name)]
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	tr, ok := translatorByName[string(lower)]
	return tr, ok
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
	tr, ok := translatorFor(name)
	if !ok {
		return signal.Signal{}, errSkip
	}
	s, err := tr(m)
	if err != nil {
		if errors.Is(err, errSkip) {
			return signal.Signal{}, err
		}
		return signal.Signal{}, fmt.Errorf("translate %s event: %w", name, err)
	}
	stamp(&s, m, recv, loc)
	return s, nil
}

// stamp sets the signal's time: the event's Timestamp header (present
// when manager.conf has timestampevents=yes), else recv, in loc.
func stamp(s *signal.Signal, m Message, recv time.Time, loc *time.Location) {
	s.Time = recv
	if ts, ok := m.Lookup("Timestamp"); ok {
		if t, err := parseTimestamp(ts); err == nil {
			s.Time = t
		}
	}
	s.Time = s.Time.In(loc)
}

// legSignal translates events about one channel (Newchannel, MixMonitor*).
func legSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) { return channelSignal(m, kind) }
}

func channelSignal(m Message, kind signal.Kind) (signal.Signal, error) {
	leg := legOf(m, "")
	if leg.ID == "" {
		return signal.Signal{}, errors.New("no Uniqueid")
	}
	return signal.Signal{Kind: kind, Leg: leg}, nil
}

// newstateSignal reports a channel that starts ringing (ChannelState 5)
// or is answered (6); the other states say nothing the model uses.
func newstateSignal(m Message) (signal.Signal, error) {
	leg := legOf(m, "")
	if leg.ID == "" {
		return signal.Signal{}, errors.New("no Uniqueid")
	}
	switch leg.State {
	case signal.StateAlerting:
		return signal.Signal{Kind: signal.LegAlerting, Leg: leg}, nil
	case signal.StateUp:
		return signal.Signal{Kind: signal.LegAnswered, Leg: leg}, nil
	}
	return signal.Signal{}, errSkip
}

// dialBeginSignal translates DialBegin: the Channel block is the dialling
// leg (absent when Originate dials without a caller), the Dest block the
// dialled one. The dial string's number part ("12125550199@trunk") is
// the number dialled; a technology/resource string ("PJSIP/101") names a
// device, not a number.
func dialBeginSignal(m Message) (signal.Signal, error) {
	s := signal.Signal{Kind: signal.Dialling, Leg: legOf(m, ""), Peer: legOf(m, "Dest")}
	if s.Peer.ID == "" {
		return signal.Signal{}, errors.New("no DestUniqueid")
	}
	if num, _, _ := strings.Cut(m.Get("DialString"), "@"); num != "" && !strings.Contains(num, "/") {
		s.Number = num
	}
	return s, nil
}

// dialStateSignal reports the dialled leg alerting (DialStatus RINGING);
// other progress (PROCEEDING, PROGRESS) is not reported.
func dialStateSignal(m Message) (signal.Signal, error) {
	if !strings.EqualFold(strings.TrimSpace(m.Get("DialStatus")), "RINGING") {
		return signal.Signal{}, errSkip
	}
	s := signal.Signal{Kind: signal.LegAlerting, Leg: legOf(m, "Dest"), Peer: legOf(m, "")}
	if s.Leg.ID == "" {
		return signal.Signal{}, errors.New("no DestUniqueid")
	}
	return s, nil
}

func dialEndSignal(m Message) (signal.Signal, error) {
	s := signal.Signal{Kind: signal.DialEnded, Leg: legOf(m, ""), Peer: legOf(m, "Dest"), Outcome: outcomeOf(m.Get("DialStatus"))}
	if s.Peer.ID == "" {
		return signal.Signal{}, errors.New("no DestUniqueid")
	}
	return s, nil
}

// outcomeOf reads app_dial's DIALSTATUS.
func outcomeOf(status string) signal.Outcome {
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "ANSWER":
		return signal.OutcomeAnswered
	case "NOANSWER":
		return signal.OutcomeNoAnswer
	case "BUSY":
		return signal.OutcomeBusy
	case "CANCEL":
		return signal.OutcomeCancelled
	case "CONGESTION":
		return signal.OutcomeCongestion
	case "CHANUNAVAIL":
		return signal.OutcomeUnavailable
	}
	return signal.OutcomeUnknown
}

// bridgeSignal translates BridgeEnter/BridgeLeave.
func bridgeSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, ""), Bridge: m.Get("BridgeUniqueid")}
		if s.Leg.ID == "" {
			return signal.Signal{}, errors.New("no Uniqueid")
		}
		if s.Bridge == "" {
			return signal.Signal{}, errors.New("no BridgeUniqueid")
		}
		return s, nil
	}
}

// hangupSignal translates Hangup. An unreadable Cause stays 0 (Asterisk's
// "Unknown"), which is what Asterisk itself reports when it has none.
func hangupSignal(m Message) (signal.Signal, error) {
	s := signal.Signal{Kind: signal.LegGone, Leg: legOf(m, "")}
	if s.Leg.ID == "" {
		return signal.Signal{}, errors.New("no Uniqueid")
	}
	s.Cause, _ = strconv.Atoi(strings.TrimSpace(m.Get("Cause")))
	return s, nil
}

// legOf reads the channel block whose keys start with prefix ("" for
// Channel, Uniqueid, ...; "Dest" for DestChannel, DestUniqueid, ...).
// Asterisk's Linkedid, the Uniqueid of the chain's first channel, is the
// call; its sequence part numbers the call in the PBX's session. A Local
// channel is one half of the pair Asterisk dials through on its own
// behalf: a loopback leg. The dialplan's start extension "s" is no number.
func legOf(m Message, prefix string) signal.Leg {
	// One pass over the fields for the ten a leg needs, rather than a
	// scan of the whole packet for each: Asterisk writes them in one case.
	var v [nLegFields]string
	var seen [nLegFields]bool
	for _, f := range m {
		rest, ok := strings.CutPrefix(f.Key, prefix)
		if !ok {
			continue
		}
		if i := legField(rest); i >= 0 && !seen[i] {
			v[i], seen[i] = f.Value, true
		}
	}
	for i, ok := range seen {
		if !ok {
			// Absent, or spelt in another case: as Get finds it.
			v[i] = m.Get(prefix + legFieldNames[i])
		}
	}
	name, linked, exten := v[fChannel], v[fLinkedid], v[fExten]
	if exten == "s" {
		exten = ""
	}
	return signal.Leg{
		ID:            v[fUniqueid],
		Call:          linked,
		CallSeq:       callSeq(linked),
		Endpoint:      endpointOf(name),
		Loopback:      strings.HasPrefix(name, "Local/"),
		CallerNum:     known(v[fCallerIDNum]),
		CallerName:    known(v[fCallerIDName]),
		ConnectedNum:  known(v[fConnectedLineNum]),
		ConnectedName: known(v[fConnectedLineName]),
		Number:        exten,
		State:         stateOf(v[fChannelState], v[fChannelStateDesc]),
	}
}

// The fields of a channel block that legOf reads, after its prefix.
const (
	fChannel = iota
	fLinkedid
	fExten
	fUniqueid
	fCallerIDNum
	fCallerIDName
	fConnectedLineNum
	fConnectedLineName
	fChannelState
	fChannelStateDesc
	nLegFields
)

var legFieldNames = [nLegFields]string{"Channel", "Linkedid", "Exten", "Uniqueid", "CallerIDNum", "CallerIDName",
	"ConnectedLineNum", "ConnectedLineName", "ChannelState", "ChannelStateDesc"}

// legField is the index of a channel block's field name, -1 for others.
func legField(name string) int {
	switch name {
	case "Channel":
		return fChannel
	case "Linkedid":
		return fLinkedid
	case "Exten":
		return fExten
	case "Uniqueid":
		return fUniqueid
	case "CallerIDNum":
		return fCallerIDNum
	case "CallerIDName":
		return fCallerIDName
	case "ConnectedLineNum":
		return fConnectedLineNum
	case "ConnectedLineName":
		return fConnectedLineName
	case "ChannelState":
		return fChannelState
	case "ChannelStateDesc":
		return fChannelStateDesc
	}
	return -1
}

// callSeq is the sequence part of a Uniqueid or Linkedid,
// "<epoch>.<sequence>": Asterisk counts channels from its start, so the
// call's first channel numbers the call within the PBX session, and the
// number is stable across engine restarts. An id without one gives 0.
func callSeq(id string) int {
	if _, seq, ok := strings.Cut(id, "."); ok {
		if n, err := strconv.Atoi(seq); err == nil && n >= 0 {
			return n
		}
	}
	return 0
}

// known maps Asterisk's placeholder for an absent caller id to "".
func known(v string) string {
	if v == "<unknown>" {
		return ""
	}
	return v
}

// Asterisk's ChannelState numbers and descriptions.
var channelStates = []struct {
	num  int
	desc string
	st   signal.LegState
}{
	{0, "Down", signal.StateIdle}, {1, "Rsrvd", signal.StateIdle}, {2, "OffHook", signal.StateIdle},
	{3, "Dialing", signal.StateIdle}, {4, "Ring", signal.StateCalling}, {5, "Ringing", signal.StateAlerting},
	{6, "Up", signal.StateUp}, {7, "Busy", signal.StateBusy},
}

// stateOf reads ChannelState; the description is the fallback for peers
// that send only the text.
func stateOf(num, desc string) signal.LegState {
	if n, err := strconv.Atoi(strings.TrimSpace(num)); err == nil {
		for _, c := range channelStates {
			if c.num == n {
				return c.st
			}
		}
	}
	for _, c := range channelStates {
		if strings.EqualFold(c.desc, desc) {
			return c.st
		}
	}
	return signal.StateIdle
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
		// Digits to nanoseconds in place: every event has a Timestamp,
		// and padding the fraction to nine digits took two strings each.
		for i := range 9 {
			ns *= 10
			if i < len(frac) {
				ns += int64(frac[i] - '0')
			}
		}
	}
	return time.Unix(s, ns), nil
}

// wanted says whether a packet can matter: a response, anything answering
// an action (it carries an ActionID), an event this package translates,
// and the dialplan events that name a recording's file or a menu or fax
// application. The rest (VarSet of every variable, every dialplan step,
// device states, RTCP reports) is a third of a busy Asterisk's stream and
// is dropped before it is decoded. EventFilters asks the PBX for the same
// events, so that it need not send the rest at all.
func wanted(p rawPacket) bool {
	ev := p.get("Event")
	if ev == nil || p.get("ActionID") != nil {
		return true
	}
	switch {
	case bytes.EqualFold(ev, []byte("VarSet")):
		return bytes.EqualFold(p.get("Variable"), []byte(mixFileVar))
	case bytes.EqualFold(ev, []byte("Newexten")):
		return contains(newextenApps, string(p.get("Application")))
	}
	_, ok := translatorFor(string(ev))
	return ok
}
