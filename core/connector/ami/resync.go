package ami

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// A session established after a loss cannot replay what Asterisk raised
// meanwhile, and Asterisk sends events from the moment of the login. So
// after every login the connector asks for the PBX's clock (Ping, whose
// answer carries Timestamp) and for every channel up now
// (CoreShowChannels: Asterisk 22's action_coreshowchannels in
// main/manager.c lists its channel cache, one CoreShowChannel event per
// channel with its channel block, Application, ApplicationData, Duration
// and BridgeId). Live events keep flowing meanwhile, in stream order; at
// the list's place in the stream (its CoreShowChannelsComplete) the view
// (view.go) is compared with the list and the difference is reported:
//
//   - an attended transfer that completed meanwhile: two channels of one
//     device gone, the parties each was bridged with now bridged together,
//     is reported as the transfer it can only have been;
//   - a channel gone meanwhile: it leaves its bridge, its dial ends (as
//     answered when it was up, else with an unknown outcome) and it goes
//     (cause unknown), the dialled channels before the calls' first ones;
//   - a channel that got further: alerting, answered (and its dial
//     answered);
//   - a channel not known before: it appears, at its creation time
//     (Duration before the list), dialled by the channel whose Dial names
//     its device (else, for an outgoing line, by the PBX for its call),
//     with its state;
//   - bridges left and joined.
//
// Every other signal is at the PBX's time of the resync, the moment the
// connector learnt of it. Asterisk's list can be ahead of the events still
// queued for the session; the view drops those that repeat what the
// resync reported. The list's own order carries no meaning (Asterisk
// walks a hash table); channels are ordered by the sequence of their
// Uniqueids, the order Asterisk created them.

// errNoSnapshot: the CoreShowChannels answer is no complete list, so
// nothing can be concluded from what it leaves out.
var errNoSnapshot = errors.New("no channel list")

// row is one channel of a CoreShowChannels answer.
type row struct {
	leg      signal.Leg // its channel block, read as an event's
	name     string
	bridge   string
	app      string
	data     string
	age      time.Duration // how long the channel has existed (Duration)
	seq      int           // the Uniqueid's sequence number
	outgoing bool          // a line Dial, a queue or an originate placed
	local    bool          // half of a Local channel pair
}

// parseChannels reads a CoreShowChannels answer. Only a whole list is a
// snapshot: an error, a response without a list, a list cancelled or
// short of its ListItems says nothing of the channels it leaves out.
func parseChannels(r Response) ([]row, error) {
	if !strings.EqualFold(r.Status(), "Success") {
		return nil, fmt.Errorf("read CoreShowChannels: %w: answered %s: %s", errNoSnapshot, r.Status(), r.Get("Message"))
	}
	if !strings.EqualFold(r.Get("EventList"), "start") || len(r.Events) == 0 {
		return nil, fmt.Errorf("read CoreShowChannels: %w: the answer opened no event list", errNoSnapshot)
	}
	last := r.Events[len(r.Events)-1]
	if !strings.EqualFold(last.Get("Event"), "CoreShowChannelsComplete") || !strings.EqualFold(last.Get("EventList"), "Complete") {
		return nil, fmt.Errorf("read CoreShowChannels: %w: the list ended with %s %s", errNoSnapshot, last.Get("Event"), last.Get("EventList"))
	}
	var rows []row
	for _, m := range r.Events[:len(r.Events)-1] {
		if !strings.EqualFold(m.Get("Event"), "CoreShowChannel") {
			continue
		}
		r := row{leg: legOf(m, ""), name: m.Get("Channel"), bridge: m.Get("BridgeId"), app: m.Get("Application"),
			data: m.Get("ApplicationData"), age: parseDuration(m.Get("Duration"))}
		if r.leg.ID == "" {
			continue
		}
		r.seq = callSeq(r.leg.ID)
		r.local = r.leg.Loopback
		switch strings.ToLower(r.app) {
		case "appdial", "appqueue", "appdial2":
			r.outgoing = true
		}
		rows = append(rows, r)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(last.Get("ListItems"))); err == nil && n != len(rows) {
		return nil, fmt.Errorf("read CoreShowChannels: %w: %d channels listed, ListItems %d", errNoSnapshot, len(rows), n)
	}
	return rows, nil
}

// parseDuration reads CoreShowChannel's Duration, "HH:MM:SS"; anything
// else is 0.
func parseDuration(v string) time.Duration {
	parts := strings.Split(strings.TrimSpace(v), ":")
	if len(parts) != 3 {
		return 0
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return 0
		}
		d += time.Duration(n) * unit
	}
	return d
}

// startResync brings the view up to date in the background. The actions
// wait for the reader, which goes on handing over live events meanwhile.
func (s *session) startResync() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 4*s.keepAlive)
		defer cancel()
		switch err := s.resync(ctx); {
		case err == nil:
		case errors.Is(err, errNoSnapshot), errors.Is(err, ErrActionFailed):
			s.log.Warn("ami resync skipped; going on with live events only", "err", err)
		case s.cause() == nil:
			s.log.Warn("ami resync failed; going on with live events only", "err", err)
		}
	}()
}

// resync asks the PBX's time, then its channels; at the list's place in
// the stream the view reports what changed (reconcile).
func (s *session) resync(ctx context.Context) error {
	at := time.Now()
	r, err := s.action(ctx, "Ping")
	switch {
	case err == nil:
		if t, perr := parseTimestamp(r.Get("Timestamp")); perr == nil {
			at = t
		}
	case !errors.Is(err, ErrActionFailed):
		return fmt.Errorf("resync: %w", err)
	}
	at = at.In(s.loc)
	var rerr error
	_, err = s.actionThen(ctx, "CoreShowChannels", func(r Response) {
		rows, err := parseChannels(r)
		if err != nil {
			rerr = err
			return
		}
		sigs := s.view.reconcile(rows, at, s.locals)
		for i := range sigs {
			s.files.attach(&sigs[i])
			s.dials.attach(&sigs[i])
			s.queued.follow(sigs[i])
			s.queueSignal(sigs[i])
		}
		s.log.Info("ami resynchronised", "channels", len(rows), "signals", len(sigs))
	})
	if rerr != nil {
		return fmt.Errorf("resync: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// reconcile compares the view with the channels Asterisk lists now, at
// (the PBX's time), and returns the signals of the difference, updating
// the view (see the comment at the top of this file).
func (v *chanView) reconcile(rows []row, at time.Time, locals *localPairs) []signal.Signal {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []signal.Signal
	emit := func(s signal.Signal) {
		if s.Time.IsZero() {
			s.Time = at
		}
		out = append(out, s)
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.seq, b.seq) })
	listed := map[string]*row{}
	for i := range rows {
		if !rows[i].local {
			listed[rows[i].leg.ID] = &rows[i]
		}
	}
	locals.resync(rows)

	v.attendedTransfers(listed, emit)

	// Gone meanwhile, and bridges left.
	var gone, known []*viewLeg
	for id, l := range v.legs {
		if listed[id] == nil {
			gone = append(gone, l)
		} else {
			known = append(known, l)
		}
	}
	slices.SortFunc(gone, func(a, b *viewLeg) int {
		if a.dialled != b.dialled {
			if a.dialled {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.seq, b.seq)
	})
	slices.SortFunc(known, func(a, b *viewLeg) int { return cmp.Compare(a.seq, b.seq) })
	for _, l := range gone {
		if l.bridge != "" {
			emit(signal.Signal{Kind: signal.Left, Leg: l.sig(), Bridge: l.bridge})
			l.bridge = ""
		}
	}
	for _, l := range known {
		if r := listed[l.leg.ID]; l.bridge != "" && l.bridge != r.bridge {
			emit(signal.Signal{Kind: signal.Left, Leg: l.sig(), Bridge: l.bridge})
			l.bridge = ""
		}
	}
	for _, l := range gone {
		if l.dialOpen {
			outcome := signal.OutcomeUnknown
			if l.up {
				outcome = signal.OutcomeAnswered
			}
			emit(signal.Signal{Kind: signal.DialEnded, Leg: v.current(l.from()), Peer: l.sig(), Outcome: outcome})
			l.dialOpen = false
		}
	}
	for _, l := range gone {
		emit(signal.Signal{Kind: signal.LegGone, Leg: l.sig()})
		v.forget(l.leg.ID, true)
	}

	// Known channels that got further.
	for _, l := range known {
		r := listed[l.leg.ID]
		l.refresh(r.leg)
		l.resynced = true
		v.progress(l, r, emit)
	}

	// Channels not known before: callers before the lines they dial.
	var fresh []*row
	for i := range rows {
		r := &rows[i]
		if _, wasGone := v.gone[r.leg.ID]; r.local || v.legs[r.leg.ID] != nil || wasGone {
			continue
		}
		fresh = append(fresh, r)
	}
	slices.SortStableFunc(fresh, func(a, b *row) int {
		if a.outgoing != b.outgoing {
			if a.outgoing {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, r := range fresh {
		v.adopt(r, rows, at, locals, emit)
	}

	// Bridges joined.
	for i := range rows {
		r := &rows[i]
		if l := v.legs[r.leg.ID]; l != nil && !r.local && r.bridge != "" && l.bridge != r.bridge {
			l.bridge = r.bridge
			emit(signal.Signal{Kind: signal.Joined, Leg: l.sig(), Bridge: r.bridge})
		}
	}
	return out
}

// current is a dialling leg as the view knows it now (a leg that is only
// a call, the PBX, as it is).
func (v *chanView) current(l signal.Leg) signal.Leg {
	if k := v.legs[l.ID]; k != nil && l.ID != "" {
		return k.sig()
	}
	return l
}

// progress reports a channel further along than the view had it:
// alerting, answered, and an answered dial's end.
func (v *chanView) progress(l *viewLeg, r *row, emit func(signal.Signal)) {
	switch r.leg.State {
	case signal.StateAlerting:
		if !l.alerting && !l.up {
			l.alerting = true
			var peer signal.Leg
			if l.from().ID != "" {
				peer = v.current(l.from())
			}
			emit(signal.Signal{Kind: signal.LegAlerting, Leg: l.sig(), Peer: peer})
		}
	case signal.StateUp:
		if !l.up {
			l.up = true
			emit(signal.Signal{Kind: signal.LegAnswered, Leg: l.sig()})
		}
	}
	if l.up && l.dialOpen {
		l.dialOpen = false
		emit(signal.Signal{Kind: signal.DialEnded, Leg: v.current(l.from()), Peer: l.sig(), Outcome: signal.OutcomeAnswered})
	}
}

// adopt follows a channel first seen in the list: it appears at its
// creation time, idle if a dial placed it (calling otherwise), is dialled
// by whoever the list shows dialling it, then moves on to its state.
func (v *chanView) adopt(r *row, rows []row, at time.Time, locals *localPairs, emit func(signal.Signal)) {
	first := r.leg
	first.State = signal.StateCalling
	if r.outgoing {
		first.State = signal.StateIdle
	}
	l := v.add(cloneLeg(first)) // the view keeps it: not a slice of the list's packet
	l.resynced = true
	emit(signal.Signal{Kind: signal.LegAppeared, Time: at.Add(-r.age), Leg: l.sig()})
	if r.outgoing {
		d, number, fanout := diallerOf(r, rows)
		var from signal.Leg
		switch {
		case d == nil && strings.EqualFold(r.app, "AppDial2"):
			// An originate's dial, which Asterisk reports without a
			// dialling channel too.
		case d == nil || d.local || v.legs[d.leg.ID] == nil:
			// A Local channel dials for the call (as live events say), or
			// nothing listed says who dialled: the PBX did, for the call.
			from = callOnly(r.leg)
			if d != nil && d.local {
				locals.reached(d.leg.ID, l.sig())
			}
		default:
			from = v.legs[d.leg.ID].sig()
		}
		l.dialled, l.dialler, l.dialOpen = true, &from, true
		emit(signal.Signal{Kind: signal.Dialling, Leg: from, Peer: l.sig(), Number: number, Fanout: fanout})
	}
	v.progress(l, r, emit)
}

// diallerOf is the channel of the list dialling r, an outgoing line: one
// running Dial with a target naming r's device (for a queue's line, one
// running Queue), in r's call or r's bridge, the one in r's bridge
// preferred. number is the number part of the target, as a DialBegin's
// DialString gives it; fanout the devices the Dial rings at once when
// more than one.
func diallerOf(r *row, rows []row) (d *row, number string, fanout int) {
	want := "dial"
	if strings.EqualFold(r.app, "AppQueue") {
		want = "queue"
	}
	for i := range rows {
		c := &rows[i]
		if c == r || c.outgoing || !strings.EqualFold(c.app, want) {
			continue
		}
		sameBridge := r.bridge != "" && c.bridge == r.bridge
		if c.leg.Call != r.leg.Call && !sameBridge {
			continue
		}
		var num string
		var n int
		if want == "dial" {
			targets := dialTargets(c.data)
			t, ok := matchTarget(targets, r.name)
			if !ok {
				continue
			}
			if res := t[strings.IndexByte(t, '/')+1:]; !strings.Contains(res, "/") {
				num, _, _ = strings.Cut(res, "@")
			}
			if len(targets) >= 2 {
				n = len(targets)
			}
		}
		if d == nil || sameBridge && (d.bridge != r.bridge) {
			d, number, fanout = c, num, n
		}
	}
	return d, number, fanout
}

// dialTargets are the devices of Dial's first argument,
// "PJSIP/101&PJSIP/102,20,tU(sub-record)".
func dialTargets(data string) []string {
	first, _, _ := strings.Cut(data, ",")
	var out []string
	for t := range strings.SplitSeq(first, "&") {
		if t = strings.TrimSpace(t); strings.Contains(t, "/") {
			out = append(out, t)
		}
	}
	return out
}

// matchTarget finds the target naming the device of channel name:
// "PJSIP/101" for PJSIP/101-00000003, "PJSIP/12125550199@trunk" for
// PJSIP/trunk-0000000a, "Local/103@from-internal" for
// Local/103@from-internal-00000004;2.
func matchTarget(targets []string, name string) (string, bool) {
	tech, _, _ := strings.Cut(name, "/")
	ep := endpointOf(name)
	for _, t := range targets {
		ttech, res, _ := strings.Cut(t, "/")
		if !strings.EqualFold(ttech, tech) {
			continue
		}
		res, _, _ = strings.Cut(res, "/") // Local/...@ctx/n options
		_, host, hasHost := strings.Cut(res, "@")
		if res == ep || hasHost && host == ep {
			return t, true
		}
	}
	return "", false
}

// attendedTransfers finds attended transfers that completed while the
// connector was away: two channels of one device gone, each bridged with
// another party before, those two parties now up in one bridge. Asterisk
// gets there only by joining the device's two calls (its
// AttendedTransfer); the older channel's party is the transferee, the
// newer's the target, as AttendedTransfer names them.
func (v *chanView) attendedTransfers(listed map[string]*row, emit func(signal.Signal)) {
	var went []*viewLeg
	for id, l := range v.legs {
		if listed[id] == nil && l.bridge != "" {
			went = append(went, l)
		}
	}
	slices.SortFunc(went, func(a, b *viewLeg) int { return cmp.Compare(a.seq, b.seq) })
	partyOf := func(x *viewLeg) *viewLeg {
		var found *viewLeg
		for id, l := range v.legs {
			if l != x && l.bridge == x.bridge && listed[id] != nil && (found == nil || l.seq < found.seq) {
				found = l
			}
		}
		return found
	}
	used := map[*viewLeg]bool{}
	for i, x := range went {
		for _, y := range went[i+1:] {
			if used[x] || used[y] || x.leg.Endpoint == "" || x.leg.Endpoint != y.leg.Endpoint || x.bridge == y.bridge {
				continue
			}
			e, t := partyOf(x), partyOf(y)
			if e == nil || t == nil || e == t {
				continue
			}
			re, rt := listed[e.leg.ID], listed[t.leg.ID]
			if re.bridge == "" || re.bridge != rt.bridge || re.leg.State != signal.StateUp || rt.leg.State != signal.StateUp {
				continue
			}
			used[x], used[y] = true, true
			x := signal.Transfer{Kind: signal.Attended, Done: true, Transferer: x.sig(), SecondTransferer: y.sig(),
				Transferee: e.sig(), Target: t.sig()}
			emit(signal.Signal{Kind: signal.Transferred, Leg: x.Transferee, Transfer: &x})
		}
	}
}

// resync brings the Local pairs in line with the list: pairs created
// meanwhile are learnt (so that their legs stay plumbing), pairs gone
// meanwhile are forgotten.
func (p *localPairs) resync(rows []row) {
	p.mu.Lock()
	defer p.mu.Unlock()
	up := map[string]bool{}
	for _, r := range rows {
		up[r.leg.ID] = true
		base, half, ok := localBase(r.name)
		if !r.local || !ok {
			continue
		}
		pair := p.pairs[base]
		if pair == nil {
			pair = &localPair{}
			p.pairs[base] = pair
		}
		pair.ids[half-1] = r.leg.ID
		p.byID[r.leg.ID] = pair
	}
	for base, pair := range p.pairs {
		if !up[pair.ids[0]] && !up[pair.ids[1]] {
			delete(p.pairs, base)
			delete(p.byID, pair.ids[0])
			delete(p.byID, pair.ids[1])
		}
	}
}

// reached notes the device a pair's ;2 half dials, as its Dialling would.
func (p *localPairs) reached(id string, far signal.Leg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pair := p.byID[id]; pair != nil {
		pair.far = far
	}
}
