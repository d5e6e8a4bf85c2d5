// Package callmodel turns the signals a connector reports into
// vendor-neutral call events. It owns the rules the vendor documents set
// down: which moments are reported, the 3CX call id with its link numbers,
// who the user of an event is, how a call finished. It does no I/O, so table
// tests drive it with signal sequences directly and every dialect shares it.
package callmodel

import (
	"log/slog"
	"math"
	"regexp"
	"strconv"
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

	calls   map[string]*call // by chain id (Asterisk Linkedid)
	counter int              // call numbers when the PBX's ids carry none
}

// New returns a Model with no calls in progress.
func New(opts ...Option) *Model {
	m := &Model{
		extension: regexp.MustCompile(`^[0-9]{2,6}$`),
		didNames:  map[string]string{},
		log:       slog.New(slog.DiscardHandler),
		calls:     map[string]*call{},
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
	external bool
	dialled  bool // some other leg of the call dialled this one
	rang     bool // a Ringing event was emitted for it
	up       bool
	gone     bool
}

// call is one call chain: every leg sharing a chain id.
type call struct {
	id        CallID
	direction Direction
	legs      map[string]*leg
	origin    *leg // the leg that started the call
	external  string
	extName   string
	did       string
	user      *leg // who the call is with: the answering leg, else the last one rung
	answered  time.Time
	talking   bool
	ended     bool
	seq       int
}

// Calls is the number of call chains the model is following.
func (m *Model) Calls() int { return len(m.calls) }

// Handle applies one signal and returns the events it causes, in order.
func (m *Model) Handle(s signal.Signal) []Event {
	switch s.Kind {
	case signal.LegCreated:
		return m.legCreated(s)
	case signal.StateChanged:
		return m.stateChanged(s)
	case signal.DialBegin:
		return m.dialBegin(s)
	case signal.DialState:
		if s.DialStatus == "RINGING" {
			if c, l := m.find(s.Peer); l != nil {
				return m.ring(c, l, s.Time)
			}
		}
	case signal.DialEnd:
		if s.DialStatus == "ANSWER" {
			if c, l := m.find(s.Peer); l != nil {
				return m.answer(c, l, s.Time)
			}
		}
	case signal.Hangup:
		return m.hangup(s)
	}
	return nil
}

func (m *Model) isExtension(endpoint string) bool {
	return m.extension.MatchString(endpoint)
}

func (m *Model) find(l signal.Leg) (*call, *leg) {
	c := m.calls[l.ChainID]
	if c == nil {
		return nil, nil
	}
	return c, c.legs[l.ID]
}

func (m *Model) legCreated(s signal.Signal) []Event {
	c := m.calls[s.Leg.ChainID]
	l := &leg{
		id:       s.Leg.ID,
		endpoint: s.Leg.Endpoint,
		name:     s.Leg.CallerName,
		external: !m.isExtension(s.Leg.Endpoint),
		up:       s.Leg.State == signal.StateUp,
	}
	if c == nil {
		c = &call{
			id:     CallID{Start: s.Time, Number: m.callNumber(s.Leg.ChainID)},
			legs:   map[string]*leg{},
			origin: l,
		}
		if l.external {
			// A call from outside: the trunk leg carries the caller and the
			// number it called in its dialplan position.
			c.direction = Inbound
			c.external = s.Leg.CallerNum
			c.extName = s.Leg.CallerName
			c.did = s.Leg.Exten
		}
		m.calls[s.Leg.ChainID] = c
	}
	c.legs[l.id] = l
	return nil
}

// callNumber is the call's number within the PBX session. Asterisk's
// Linkedid is "<epoch>.<sequence>", the sequence counting from the PBX's
// start: exactly the per-session number the 3CX id wants, and stable across
// engine restarts. Other ids fall back to the model's own counter.
func (m *Model) callNumber(chain string) int {
	if _, seq, ok := strings.Cut(chain, "."); ok {
		if n, err := strconv.Atoi(seq); err == nil && n >= 0 {
			return n
		}
	}
	m.counter++
	return m.counter
}

func (m *Model) dialBegin(s signal.Signal) []Event {
	c, from := m.find(s.Leg)
	if c == nil || from == nil {
		return nil
	}
	to := c.legs[s.Peer.ID]
	if to == nil {
		// Some PBXs report the dial before the dialled leg; adopt it.
		m.legCreated(signal.Signal{Kind: signal.LegCreated, Time: s.Time, Leg: s.Peer})
		to = c.legs[s.Peer.ID]
	}
	to.dialled = true
	if c.direction == 0 && from == c.origin && !from.external {
		if to.external {
			c.direction = Outbound
			c.external = dialledNumber(s)
			c.user = from
			return []Event{m.emit(c, Event{Kind: Dialing, Time: s.Time, User: from.endpoint, UserName: from.name})}
		}
		c.direction = Internal
	}
	return nil
}

// dialledNumber is the number an outbound call went to: the dial string's
// number part ("12125550199@trunk"), else the dialled leg's position.
func dialledNumber(s signal.Signal) string {
	if num, _, _ := strings.Cut(s.DialString, "@"); num != "" && !strings.Contains(num, "/") {
		return num
	}
	if s.Peer.Exten != "" && s.Peer.Exten != "s" {
		return s.Peer.Exten
	}
	return s.Peer.CallerNum
}

func (m *Model) stateChanged(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil {
		return nil
	}
	switch s.Leg.State {
	case signal.StateRinging:
		if l.dialled {
			return m.ring(c, l, s.Time)
		}
	case signal.StateUp:
		if l.dialled {
			return m.answer(c, l, s.Time)
		}
		l.up = true
	}
	return nil
}

func (m *Model) ring(c *call, l *leg, t time.Time) []Event {
	if l.rang || l.up || c.direction != Inbound || l.external {
		return nil
	}
	l.rang = true
	c.user = l
	return []Event{m.emit(c, Event{Kind: Ringing, Time: t, User: l.endpoint, UserName: l.name})}
}

func (m *Model) answer(c *call, l *leg, t time.Time) []Event {
	if l.up {
		return nil
	}
	l.up = true
	if c.talking || c.ended {
		return nil
	}
	switch c.direction {
	case Inbound:
		if l.external {
			return nil
		}
		c.user = l
	case Outbound:
		if !l.external {
			return nil
		}
	default:
		return nil
	}
	c.talking = true
	c.answered = t
	c.id.Link = 1
	return []Event{m.emit(c, Event{Kind: Answered, Time: t, User: c.user.endpoint, UserName: c.user.name, Transfer: NotTransferred})}
}

func (m *Model) hangup(s signal.Signal) []Event {
	c, l := m.find(s.Leg)
	if l == nil {
		return nil
	}
	l.gone = true
	var out []Event
	if !c.ended && c.direction != 0 && c.direction != Internal {
		switch {
		case c.talking && (l == c.user || l.external):
			c.ended = true
			out = append(out, m.emit(c, Event{
				Kind: Ended, Time: s.Time, User: c.user.endpoint, UserName: c.user.name,
				Finish: FinishOK, Talk: roundSeconds(s.Time.Sub(c.answered)), Cause: s.Cause,
			}))
		case !c.talking && l == c.origin && c.user != nil:
			c.ended = true
			out = append(out, m.emit(c, Event{
				Kind: Ended, Time: s.Time, User: c.user.endpoint, UserName: c.user.name,
				Finish: FinishMissed, Cause: s.Cause,
			}))
		}
	}
	for _, other := range c.legs {
		if !other.gone {
			return out
		}
	}
	delete(m.calls, s.Leg.ChainID)
	return out
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
	ev.Seq = c.seq
	c.seq++
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
	if ev.UserType == 0 {
		ev.UserType = UserExtension
	}
	return ev
}
