package ami

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Asterisk sends a manager session every event of its user's read classes:
// on a real call about 90 events, most of them VarSet and Newexten, of
// which the connector uses a few (wanted, queueCallers.wants). Reading and
// framing the rest costs the engine a third of its CPU, so after login the
// connector asks Asterisk to filter the session (the manager action
// Filter, Asterisk 20.7, 21.2, 22 and later): include filters only, so
// Asterisk sends an event only when one of them matches (main/manager.c,
// should_send_event). Responses and the event lists answering an action
// (CoreShowChannels, QueueStatus) are written to the session directly and
// never filtered; no event the connector uses is broadcast with an
// ActionID (OriginateResponse, the only one of an action it sends, is not
// read). wanted stays: a PBX that refuses filters, and pbxsim with
// event_filter = no, still send everything.

// ErrFilter: the PBX accepted some event filters and refused a later one.
// The session then only gets the events the accepted filters name (Asterisk
// excludes everything else), so it is dropped; the connector reconnects
// without filters.
var ErrFilter = errors.New("ami: event filter refused")

// Filter is one Filter action: its MatchCriteria and Filter headers, as
// Asterisk 22's advanced event filters read them.
type Filter struct {
	MatchCriteria string
	Filter        string
}

// EventFilters are the include filters for exactly the events the
// connector reads, built from the same tables as wanted, so they cannot
// drift apart: one name() per event it translates; VarSet only for the
// recording's file variable and Newexten only for the applications it
// reads, both case-insensitively as wanted compares them; DTMFEnd only of
// callbackKey (default DefaultCallbackKey), which a caller waiting in a
// queue presses. Asterisk compares the name of a name() filter with the
// event's case-sensitively: translators spells the names as Asterisk does.
func EventFilters(callbackKey string) []Filter {
	if callbackKey == "" {
		callbackKey = DefaultCallbackKey
	}
	var out []Filter
	for _, name := range slices.Sorted(maps.Keys(translators)) {
		if name == "Newexten" {
			continue
		}
		out = append(out, Filter{MatchCriteria: "name(" + name + ")"})
	}
	apps := make([]string, len(newextenApps))
	for i, a := range newextenApps {
		apps[i] = foldRegex(a)
	}
	return append(out,
		Filter{MatchCriteria: "name(Newexten),header(Application),method(regex)", Filter: "^(" + strings.Join(apps, "|") + ")$"},
		Filter{MatchCriteria: "name(VarSet),header(Variable),method(regex)", Filter: "^" + foldRegex(mixFileVar) + "$"},
		Filter{MatchCriteria: "name(DTMFEnd),header(Digit),method(exact)", Filter: callbackKey},
	)
}

// foldRegex is a POSIX extended regular expression matching s in any case
// (Asterisk compiles filters without REG_ICASE): "Dial" → "[Dd][Ii][Aa][Ll]".
func foldRegex(s string) string {
	var b strings.Builder
	for _, r := range s {
		lo, up := strings.ToLower(string(r)), strings.ToUpper(string(r))
		switch {
		case lo != up:
			b.WriteString("[" + up + lo + "]")
		case strings.ContainsRune(`.[]()*+?{}|^$\`, r):
			b.WriteString(`\` + string(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// filterRefused: the PBX refused the first filter (a user without the
// system write class gets "Permission denied"), so the session goes on
// unfiltered.
type filterRefused struct{ message string }

func (e *filterRefused) Error() string { return "ami: event filters refused: " + e.message }

// addFilters asks the PBX to filter the session. The first filter goes
// alone: when it is refused the session simply stays unfiltered
// (*filterRefused). The others are sent at once and their answers read
// together; a refusal among them is ErrFilter. Events read meanwhile are
// kept for the session (session.early) and handled first once it starts.
// Those the filters not yet added excluded are lost, so what the session
// missed is as if it logged in once the last filter was answered; the
// resync that follows (resync.go) reports what changed before, as after
// any login.
func (s *session) addFilters(filters []Filter) error {
	refusal, err := s.filterBatch(filters[:1])
	switch {
	case err != nil:
		return err
	case refusal != "":
		return &filterRefused{message: refusal}
	}
	refusal, err = s.filterBatch(filters[1:])
	switch {
	case err != nil:
		return err
	case refusal != "":
		return fmt.Errorf("add event filters on %s: %w after the first was accepted: %s", s.addr, ErrFilter, refusal)
	}
	return nil
}

// filterBatch writes the Filter actions of filters in one write and reads
// until each is answered. It returns the first refusal's message, with
// the filter when the batch has several, or "" when all were accepted.
func (s *session) filterBatch(filters []Filter) (refusal string, err error) {
	ids := make(map[string]int, len(filters))
	var wire []byte
	for i, f := range filters {
		id := s.newID()
		ids[id] = i
		m := Message{{Key: "Action", Value: "Filter"}, {Key: "ActionID", Value: id}, {Key: "Operation", Value: "Add"},
			{Key: "MatchCriteria", Value: f.MatchCriteria}}
		if f.Filter != "" {
			m = append(m, Field{Key: "Filter", Value: f.Filter})
		}
		wire = m.appendWire(wire)
	}
	if _, err := s.conn.Write(wire); err != nil {
		return "", fmt.Errorf("add event filters on %s: %w", s.addr, err)
	}
	refused := make([]string, len(filters))
	for left := len(filters); left > 0; {
		m, err := s.readPacket()
		switch {
		case err != nil:
			return "", fmt.Errorf("add event filters on %s: %w", s.addr, err)
		case m.isEvent():
			s.early = append(s.early, earlyEvent{m, time.Now()})
			continue
		}
		i, ok := ids[m.Get("ActionID")]
		if !ok {
			continue
		}
		delete(ids, m.Get("ActionID"))
		left--
		if !strings.EqualFold(m.Get("Response"), "Success") {
			refused[i] = cmp.Or(m.Get("Message"), "answered "+m.Get("Response"))
		}
	}
	for i, msg := range refused {
		switch {
		case msg == "":
		case len(filters) == 1:
			return msg, nil
		default:
			return fmt.Sprintf("%s (MatchCriteria %q, Filter %q)", msg, filters[i].MatchCriteria, filters[i].Filter), nil
		}
	}
	return "", nil
}

// filter sets up the event filters of a freshly logged-in session, unless
// the configuration or an earlier partial refusal says not to. It returns
// an error only when the session cannot be used.
func (c *Connector) filter(s *session) error {
	if c.cfg.NoEventFilter || c.unfiltered.Load() {
		return nil
	}
	filters := EventFilters(c.cfg.CallbackKey)
	began := time.Now()
	err := s.addFilters(filters)
	var refused *filterRefused
	switch {
	case err == nil:
		c.log.Info("ami event filters added", "filters", len(filters), "took", time.Since(began).Round(time.Microsecond))
	case errors.As(err, &refused):
		if c.refusalLogged.CompareAndSwap(false, true) {
			c.log.Info("the PBX refused event filters; filtering here", "message", refused.message)
		} else {
			c.log.Debug("the PBX refused event filters; filtering here", "message", refused.message)
		}
	case errors.Is(err, ErrFilter):
		c.unfiltered.Store(true)
		return fmt.Errorf("%w; reconnecting without filters", err)
	default:
		return err
	}
	return nil
}
