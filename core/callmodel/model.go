// Package callmodel turns the signals a connector reports into
// vendor-neutral call events. It owns the rules the vendor documents set
// down: which moments are reported, the 3CX call id with its link numbers,
// who the user of an event is, how a call finished, transfers and queues,
// and the extension and queue status events. It does no I/O, so table tests
// drive it with signal sequences directly and every dialect shares it.
package callmodel

import (
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// Option configures a Model.
type Option func(*Model)

// WithDIDNames names DID rules: number → rule name. A DID without a name is
// reported by its number.
func WithDIDNames(names map[string]string) Option {
	return func(m *Model) {
		for k, v := range names {
			m.didNames[k] = v
		}
	}
}

// WithExtensionPattern sets which endpoints are the PBX's own extensions;
// every other endpoint is a trunk (the outside world). The default,
// `^[0-9]{2,6}$`, fits extension numbers as most PBXs number them.
func WithExtensionPattern(re *regexp.Regexp) Option {
	return func(m *Model) { m.extension = re }
}

// WithLogger sets the logger for signals the model cannot place.
func WithLogger(l *slog.Logger) Option {
	return func(m *Model) { m.log = l }
}

// Model follows every live call chain. It is not safe for concurrent use:
// a connector hands it one signal at a time, in the PBX's order.
type Model struct {
	extension *regexp.Regexp
	didNames  map[string]string
	log       *slog.Logger

	calls   map[string]*call // by the PBX's call id, merged calls included
	live    int              // distinct calls in calls: counted as they come and go, not walked
	byLeg   map[string]*call // by leg id: a leg stays with its call when the PBX renames its chain
	bridges map[string]*call // by bridge id: the call whose legs are in the bridge
	status  int              // number of status events so far
	done    *finished        // ended calls waiting for the PBX's call record
}

// New returns a Model with no calls in progress.
func New(opts ...Option) *Model {
	m := &Model{
		extension: regexp.MustCompile(`^[0-9]{2,6}$`),
		didNames:  map[string]string{},
		log:       slog.New(slog.DiscardHandler),
		calls:     map[string]*call{},
		byLeg:     map[string]*call{},
		bridges:   map[string]*call{},
		done:      newFinished(),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// leg is what the model keeps of one call leg.
type leg struct {
	id       string
	endpoint string
	name     string // caller name on the leg
	external bool   // a trunk: the outside world
	local    bool   // half of a local channel pair: plumbing, never a party
	dialled  bool   // some other leg of the call dialled this one
	rang     bool   // a Ringing event was emitted for it
	stopped  bool   // it stopped ringing (reported or pending)
	up       bool
	gone     bool
	queue    string // the queue that rang it
	bridge   string // the bridge it is in
	left     bool   // it transferred the call away; its hangup ends nothing
}

// lost is a user leg that hung up while the external party stayed in the
// bridge: the device may come back (mobile reconnect).
type lost struct {
	at       time.Time
	cause    int
	hangup   signal.Teardown // the PBX's account of the lost leg's hangup
	byOrigin bool
}

// call is one call chain: every leg sharing a chain id, and the chains
// merged into it.
type call struct {
	id        CallID
	direction Direction
	legs      smallMap[string, *leg]
	chains    []string
	origin    *leg // the leg that started the call
	extLeg    *leg // the external party's leg
	external  string
	extName   string
	did       string
	user      *leg // who the call is with: the answering leg, else the last one rung
	blindTo   string
	queue     string // the queue the caller waits or waited in
	inQueue   bool
	atQueue   bool // nobody outside the queue has rung or answered since it joined
	callback  bool
	answered  time.Time
	talking   bool
	ended     bool
	transfer  TransferType // how the next answer is reached
	lost      *lost
	stops     []*leg                  // stopped ringing, reported once the call goes on
	emitted   int                     // events reported so far
	counts    smallMap[kindLink, int] // events reported per kind and link
	flow      flowCall
	history   History

	dialOutcome signal.Outcome // the last dial's outcome other than an answer
	firstAnswer time.Time      // when the chain was first answered
	endedAt     time.Time
	consultFor  *call  // this call is a consultation of the user of that call
	consult     *leg   // the extension consulted within this call, while it is
	consults    int    // consultations of this call under way
	party       string // internal: the called extension; barge: the extension listened in on
	bargeOf     string // barge: the PBX's id of the call listened in on
	recording   bool
	recordings  []string // base names of the call's recording files, in order
	records     []signal.Record
	recordSent  bool
	// endHangup is the PBX's account of the hangup being handled, and
	// whether it is the leg that started the call (Event.HangupCause,
	// HangupDisposition).
	endHangup   signal.Teardown
	endByOrigin bool
}

func (c *call) reporting() bool { return c.direction == Inbound || c.direction == Outbound }

// local says whether c is a call the model reports although no outside
// party is in it: an internal call that is not a consultation, or a barge.
func (c *call) local() bool {
	return (c.direction == Internal && c.consultFor == nil) || c.direction == Barge
}

// Calls is the number of call chains the model is following. It is read
// after every batch of signals (a gauge), so it is kept, not counted.
func (m *Model) Calls() int { return m.live }

// distinctCalls counts what Calls keeps, by walking the map (tests).
func (m *Model) distinctCalls() int {
	seen := map[*call]bool{}
	for _, c := range m.calls {
		seen[c] = true
	}
	return len(seen)
}

// Handle applies one signal and returns the events it causes, in order:
// always the same events for the same signals, whoever consumes them.
func (m *Model) Handle(s signal.Signal) []Event {
	return m.handleFlow(s)
}

func (m *Model) handle(s signal.Signal) []Event {
	switch s.Kind {
	case signal.LegAppeared:
		return m.legAppeared(s)
	case signal.LegAlerting:
		if c, l := m.find(s.Leg); l != nil && l.dialled {
			return m.ring(c, l, s.Time)
		}
	case signal.LegAnswered:
		if c, l := m.find(s.Leg); l != nil {
			if l.dialled {
				return m.answer(c, l, s.Time)
			}
			l.up = true
		}
	case signal.Dialling:
		return m.dialling(s)
	case signal.DialEnded:
		if c, l := m.find(s.Peer); l != nil {
			if s.Outcome == signal.OutcomeAnswered {
				return m.answer(c, l, s.Time)
			}
			c.dialOutcome = s.Outcome
			return m.stopRinging(c, l, s.Time)
		}
	case signal.Joined:
		return m.joined(s)
	case signal.Left:
		return m.left(s)
	case signal.LegGone:
		return m.legGone(s)
	case signal.Transferred:
		if s.Transfer == nil {
			return nil
		}
		if s.Transfer.Kind == signal.Attended {
			return m.attendedTransfer(s)
		}
		return m.blindTransfer(s)
	case signal.QueueJoined, signal.QueueLeft, signal.AgentRinging, signal.AgentAnswered, signal.AgentNoAnswer:
		return m.queueSignal(s)
	case signal.MemberAdded, signal.MemberRemoved, signal.MemberPaused:
		return m.memberSignal(s)
	case signal.CallbackRequested:
		if c, _ := m.find(s.Leg); c != nil {
			c.callback = true
		}
	case signal.ForwardingChanged, signal.QueueLoginChanged, signal.ExtensionCreated, signal.ExtensionDeleted:
		return m.statusSignal(s)
	case signal.CallRecorded:
		return m.recorded(s)
	case signal.RecordingStarted:
		if c, _ := m.find(s.Leg); c != nil {
			c.recording = true
			if f := s.File; f != "" && !slices.Contains(c.recordings, filepath.Base(f)) {
				c.recordings = append(c.recordings, filepath.Base(f))
			}
		}
	case signal.ListenStarted:
		return m.listenStarted(s)
	case signal.ListenStopped:
		return m.listenStopped(s)
	}
	return nil
}

func (m *Model) isExtension(endpoint string) bool {
	return m.extension.MatchString(endpoint)
}

// find returns the call of l, and l's record if the model knows the leg.
// A leg is found by its id first: a PBX may rename the call of a leg when
// calls merge.
func (m *Model) find(l signal.Leg) (*call, *leg) {
	if c := m.byLeg[l.ID]; c != nil {
		return c, c.legs.get(l.ID)
	}
	if l.Call == "" {
		return nil, nil
	}
	return m.calls[l.Call], nil
}

func (m *Model) legAppeared(s signal.Signal) []Event {
	if s.Leg.ID == "" || m.byLeg[s.Leg.ID] != nil {
		return nil
	}
	c := m.calls[s.Leg.Call]
	if c == nil {
		// What the model keeps, it copies: a connector's strings may
		// share memory with a whole wire packet.
		chain := strings.Clone(s.Leg.Call)
		c = &call{
			id:     CallID{Start: s.Time, Number: s.Leg.CallSeq},
			chains: []string{chain},
		}
		m.calls[chain] = c
		m.live++
	}
	l := m.addLeg(c, s.Leg)
	if c.origin == nil {
		c.origin = l
		if l.external {
			// A call from outside: the trunk leg carries the caller and the
			// number it called.
			c.direction = Inbound
			c.extLeg = l
			c.external = strings.Clone(s.Leg.CallerNum)
			c.extName = strings.Clone(s.Leg.CallerName)
			c.did = strings.Clone(s.Leg.Number)
			return []Event{m.emit(c, Event{Kind: Initiated, Time: s.Time})}
		}
	}
	return nil
}

func (m *Model) addLeg(c *call, sl signal.Leg) *leg {
	local := sl.Loopback
	l := &leg{
		id:       strings.Clone(sl.ID),
		endpoint: strings.Clone(sl.Endpoint),
		name:     strings.Clone(sl.CallerName),
		local:    local,
		external: !local && !m.isExtension(sl.Endpoint),
		up:       sl.State == signal.StateUp,
	}
	c.legs.set(l.id, l)
	m.byLeg[l.id] = c
	return l
}

func (m *Model) dialling(s signal.Signal) []Event {
	c, from := m.find(s.Leg)
	if c == nil || (from == nil && s.Leg.ID != "") {
		return nil
	}
	to := c.legs.get(s.Peer.ID)
	if to == nil {
		if other := m.byLeg[s.Peer.ID]; other != nil {
			return nil
		}
		// Some PBXs report the dial before the dialled leg; adopt it.
		to = m.addLeg(c, s.Peer)
	}
	to.dialled = true
	if c.inQueue && to.queue == "" {
		to.queue = c.queue
	}
	if from == nil {
		// The PBX dials for the call itself: during a conversation, an
		// extension dialled so is consulted (an attended transfer the PBX
		// runs, by its key code or a manager's request).
		if c.talking && c.user != nil && to != c.user && !to.external && !to.local {
			c.consult = to
		}
		return nil
	}
	if c.direction == 0 && from == c.origin && !from.external && !from.local {
		if to.external {
			c.direction = Outbound
			c.external = strings.Clone(dialledNumber(s))
			c.user = from
			return []Event{
				m.emit(c, Event{Kind: Initiated, Time: s.Time, User: from.endpoint, UserName: from.name}),
				m.emit(c, Event{Kind: Dialing, Time: s.Time, User: from.endpoint, UserName: from.name}),
			}
		}
		if !to.local {
			return m.internalCall(c, from, to, s.Time)
		}
	}
	if c.direction == Inbound && c.user == nil && !to.external && !to.local {
		// The candidate user of a call that is busy before it rings.
		c.user = to
	}
	return nil
}

// dialledNumber is the number an outbound call went to: what the PBX
// says was dialled, else the number the dialled leg was called on.
func dialledNumber(s signal.Signal) string {
	if s.Number != "" {
		return s.Number
	}
	if s.Peer.Number != "" {
		return s.Peer.Number
	}
	return s.Peer.CallerNum
}

// ring reports a device of the call alerting. An inbound call rings
// extensions; an outbound one only once it has been transferred on.
func (m *Model) ring(c *call, l *leg, t time.Time) []Event {
	if l.rang || l.up || l.external || l.local || c.ended || c.talking {
		return nil
	}
	if c.direction != Inbound && (c.direction != Outbound || c.id.Link < 2) && !c.local() {
		return nil
	}
	l.rang = true
	c.user = l
	if l.queue == "" && c.inQueue {
		l.queue = c.queue
	}
	if l.queue == "" {
		c.atQueue = false
	}
	out := m.flushStops(c, t)
	return append(out, m.emit(c, Event{Kind: Ringing, Time: t, User: l.endpoint, UserName: l.name, UserType: legType(l)}))
}

// legType: a device rung by a queue is reported with usertype queue, one
// rung directly as an extension.
func legType(l *leg) UserType {
	if l.queue != "" {
		return UserQueue
	}
	return UserExtension
}

func (m *Model) answer(c *call, l *leg, t time.Time) []Event {
	if l.up {
		return nil
	}
	l.up = true
	if l.local || c.talking || c.ended {
		return nil
	}
	user := l
	switch {
	case c.direction == Inbound && !l.external:
	case c.direction == Outbound && c.id.Link == 0 && l.external:
		user = c.user
		c.extLeg = l
	case c.direction == Outbound && c.id.Link >= 2 && !l.external:
	case c.direction == Internal && c.local() && l.dialled && l != c.origin:
	default:
		return nil
	}
	c.user = user
	c.talking = true
	c.answered = t
	if c.firstAnswer.IsZero() {
		c.firstAnswer = t
	}
	c.atQueue = false
	c.lost = nil
	if c.id.Link == 0 {
		c.id.Link = 1
	}
	tr := c.transfer
	if tr == 0 {
		tr = NotTransferred
	}
	c.transfer = 0
	out := m.flushStops(c, t)
	return append(out, m.emit(c, Event{Kind: Answered, Time: t, User: user.endpoint, UserName: user.name,
		UserType: UserExtension, Transfer: tr}))
}

// stopRinging notes that l stopped ringing. The event is reported only if
// the call goes on: at once when it is in conversation, else when it next
// rings or is answered; a call that ends first drops it.
func (m *Model) stopRinging(c *call, l *leg, t time.Time) []Event {
	if !l.rang || l.up || l.stopped || c.ended {
		return nil
	}
	l.stopped = true
	c.stops = append(c.stops, l)
	if c.talking {
		return m.flushStops(c, t)
	}
	return nil
}

func (m *Model) flushStops(c *call, t time.Time) []Event {
	var out []Event
	for _, l := range c.stops {
		out = append(out, m.emit(c, Event{Kind: StoppedRinging, Time: t, User: l.endpoint, UserName: l.name, UserType: legType(l)}))
	}
	c.stops = nil
	return out
}

func (m *Model) legGone(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil {
		return nil
	}
	l.gone = true
	l.bridge = ""
	c.endHangup, c.endByOrigin = s.Teardown, l == c.origin
	var out []Event
	if c.consult == l {
		// The consulted extension went without the transfer taking
		// place: the transfer was cancelled, the call goes on.
		c.consult = nil
		if !c.ended && c.user != nil && !c.user.gone {
			out = append(out, m.emit(c, Event{Kind: TransferCancelled, Time: s.Time, User: c.user.endpoint,
				UserName: c.user.name, Other: l.endpoint}))
		}
	}
	if !c.ended && c.direction == Barge && l == c.user {
		out = m.end(c, s.Time, s.Cause, FinishOK)
	} else if !c.ended && (c.reporting() || c.local()) {
		switch {
		case c.lost != nil && l == c.extLeg:
			out = m.end(c, c.lost.at, c.lost.cause, FinishOK)
		case c.talking && l == c.user && !l.left:
			if ext := c.extLeg; ext != nil && !ext.gone && ext.bridge != "" {
				// The external party is still in the bridge: wait and see
				// whether the device comes back.
				c.lost = &lost{at: s.Time, cause: s.Cause, hangup: s.Teardown, byOrigin: l == c.origin}
				break
			}
			out = m.end(c, s.Time, s.Cause, FinishOK)
		case c.talking && (l == c.extLeg || c.direction == Internal && l == c.origin):
			out = m.end(c, s.Time, s.Cause, FinishOK)
		case !c.talking && l == c.origin:
			out = m.end(c, s.Time, s.Cause, FinishMissed)
		case !c.talking && l.rang:
			out = m.stopRinging(c, l, s.Time)
		}
	}
	for _, e := range c.legs {
		if !e.v.gone {
			return out
		}
	}
	m.forget(c)
	return append(out, m.chainDone(c, s.Time)...)
}

// end reports the call's last link ended.
func (m *Model) end(c *call, t time.Time, cause int, finish Finish) []Event {
	c.ended = true
	c.endedAt = t
	c.stops = nil
	ev := Event{Kind: Ended, Time: t, Finish: finish, Cause: cause, Queue: c.queue, Callback: c.callback, UserType: UserExtension,
		Reason: endReason(finish, cause, c.dialOutcome)}
	h, byOrigin := c.endHangup, c.endByOrigin
	if c.lost != nil {
		h, byOrigin = c.lost.hangup, c.lost.byOrigin
	}
	ev.HangupCause, ev.HangupDisposition = h.Cause, callerSide(h.Disposition, byOrigin)
	switch {
	case finish == FinishOK:
		ev.User, ev.UserName = c.user.endpoint, c.user.name
		ev.Talk = roundSeconds(t.Sub(c.answered))
		if c.lost != nil {
			ev.Talk = roundSeconds(c.lost.at.Sub(c.answered))
		}
	case c.atQueue && c.queue != "":
		// "If the call is missed and terminated at the queue level, then
		// this will be the queue extension number."
		ev.User, ev.UserType = c.queue, UserQueue
	case c.user != nil:
		ev.User, ev.UserName = c.user.endpoint, c.user.name
	case c.blindTo != "":
		ev.User = c.blindTo
	default:
		return nil
	}
	c.lost = nil
	return []Event{m.emit(c, ev)}
}

// forget drops a call whose legs are all gone.
func (m *Model) forget(c *call) {
	known := false
	for _, ch := range c.chains {
		if m.calls[ch] == c {
			delete(m.calls, ch)
			known = true
		}
	}
	if known {
		m.live--
	}
	for _, e := range c.legs {
		if m.byLeg[e.k] == c {
			delete(m.byLeg, e.k)
		}
	}
	for b, bc := range m.bridges {
		if bc == c {
			delete(m.bridges, b)
		}
	}
}

// roundSeconds rounds a duration to whole seconds, the unit every vendor
// reports talk time in.
func roundSeconds(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return time.Duration(math.Round(d.Seconds())) * time.Second
}

// emit completes ev with what the call knows and numbers it.
func (m *Model) emit(c *call, ev Event) Event {
	ev.ID = c.id
	ev.PBXCallID = c.chains[0]
	if c.bargeOf != "" {
		ev.PBXCallID = c.bargeOf
	}
	if ev.Other == "" {
		ev.Other = c.party
	}
	if ev.Queue == "" {
		// Every event of a call that reached a queue names it, from the
		// moment it joined.
		ev.Queue = c.queue
	}
	k := kindLink{ev.Kind, c.id.Link}
	ev.N = c.counts.get(k)
	c.counts.set(k, ev.N+1)
	c.emitted++
	ev.Recorded = c.recording
	ev.Direction = c.direction
	ev.External = c.external
	ev.ExternalName = c.extName
	if c.direction == Inbound {
		ev.DID = c.did
		ev.DIDName = c.did
		if n, ok := m.didNames[c.did]; ok {
			ev.DIDName = n
		}
	}
	if c.direction == Outbound && c.origin != nil && !c.origin.external {
		ev.Origin = c.origin.endpoint
	}
	if ev.UserType == 0 {
		ev.UserType = UserExtension
	}
	c.history.note(ev)
	if ev.Kind == Missed || (ev.Kind == Ended && !ev.Transferred) {
		ev.History = c.history.snapshot()
	}
	return ev
}

// kindLink counts a call's events per kind and link (Event.N).
type kindLink struct {
	kind Kind
	link int
}

// callerSide words a leg's hangup disposition as the caller's leg saw
// it: the other party's leg receiving a hangup is the caller's leg being
// sent one, and the other way round.
func callerSide(disposition string, byOrigin bool) string {
	if byOrigin || disposition == "" {
		return disposition
	}
	if rest, ok := strings.CutPrefix(disposition, "recv_"); ok {
		return "send_" + rest
	}
	if rest, ok := strings.CutPrefix(disposition, "send_"); ok {
		return "recv_" + rest
	}
	return disposition
}
