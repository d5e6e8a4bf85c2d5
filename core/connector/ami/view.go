package ami

import (
	"sync"

	"github.com/callhook/callhook/core/signal"
)

// keepGoneLegs bounds how many gone channels the view remembers, so that a
// late event about one is not taken for news.
const keepGoneLegs = 8192

// chanView is the connector's compact account of the channels it has
// reported, kept across sessions from the signals it pushes: for each
// channel not yet gone its leg (call, endpoint, names), how far it got
// (appeared, alerting, answered), the bridge it is in and the dial that
// placed it. After a reconnection the resync (resync.go) compares it with
// what Asterisk lists and reports the difference.
//
// The view does not change what live events say, with one exception:
// once a resync has spoken of a channel, a live event that repeats what
// the resync reported (a Hangup of a channel it ended, an answer, a
// bridge it joined, a dial it reported) is dropped. Asterisk may send
// such events after the list (it builds the list from its channel cache,
// which is ahead of the events still queued for the session), and the
// model must not hear them twice.
type chanView struct {
	mu    sync.Mutex
	legs  map[string]*viewLeg // by Uniqueid: reported, not gone
	gone  map[string]bool     // gone; true when a resync ended it
	goneQ []string
	seq   uint64
}

// viewLeg is what the view keeps of one channel.
type viewLeg struct {
	leg      signal.Leg // as last reported
	seq      uint64     // the order the view learnt of the channels
	alerting bool
	up       bool
	bridge   string      // the bridge it is in, "" when none
	dialled  bool        // a Dialling named it as the peer
	dialler  *signal.Leg // the leg that dialled it; only a call: the PBX dialled for the call
	dialOpen bool        // its dial has not ended
	resynced bool        // a resync spoke of it: live repeats are dropped
}

// from is the leg that dialled it, if one did.
func (l *viewLeg) from() signal.Leg {
	if l.dialler == nil {
		return signal.Leg{}
	}
	return *l.dialler
}

func newChanView() *chanView {
	return &chanView{legs: map[string]*viewLeg{}, gone: map[string]bool{}}
}

// state is the leg's LegState as the view knows it.
func (l *viewLeg) state() signal.LegState {
	switch {
	case l.up:
		return signal.StateUp
	case l.alerting:
		return signal.StateAlerting
	}
	return l.leg.State
}

// sig is the leg as a signal names it now.
func (l *viewLeg) sig() signal.Leg {
	s := l.leg
	s.State = l.state()
	return s
}

// refresh keeps the newest account of the leg's details; the state is
// the view's own.
func (l *viewLeg) refresh(s signal.Leg) {
	if s.ID == "" || s.ID != l.leg.ID {
		return
	}
	st := l.leg.State
	l.leg = s
	l.leg.State = st
}

// add follows a channel the connector reports for the first time.
func (v *chanView) add(s signal.Leg) *viewLeg {
	v.seq++
	l := &viewLeg{leg: s, seq: v.seq,
		up: s.State == signal.StateUp, alerting: s.State == signal.StateAlerting}
	v.legs[s.ID] = l
	return l
}

// forget drops a gone channel, remembering its id for a while.
func (v *chanView) forget(id string, byResync bool) {
	delete(v.legs, id)
	if _, ok := v.gone[id]; !ok {
		v.goneQ = append(v.goneQ, id)
		if len(v.goneQ) > keepGoneLegs {
			delete(v.gone, v.goneQ[0])
			v.goneQ = v.goneQ[1:]
		}
	}
	v.gone[id] = byResync || v.gone[id]
}

// endedByResync says whether a resync reported the channel gone.
func (v *chanView) endedByResync(id string) bool { return id != "" && v.gone[id] }

// pass notes a live signal about to be queued and says whether it goes:
// false for a repeat of what a resync reported (see chanView).
func (v *chanView) pass(s *signal.Signal) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.detach(s)
	leg := v.legs[s.Leg.ID]
	if leg != nil {
		leg.refresh(s.Leg)
	}
	switch s.Kind {
	case signal.LegAppeared:
		if s.Leg.ID == "" {
			return true
		}
		if leg != nil {
			// A resync adopted it: its Newchannel came late.
			return !leg.resynced
		}
		if byResync, gone := v.gone[s.Leg.ID]; gone {
			return !byResync
		}
		v.add(s.Leg)
	case signal.LegAlerting:
		if v.endedByResync(s.Leg.ID) {
			return false
		}
		if leg != nil {
			if leg.resynced && (leg.alerting || leg.up) {
				return false
			}
			leg.alerting = true
		}
	case signal.LegAnswered:
		if v.endedByResync(s.Leg.ID) {
			return false
		}
		if leg != nil {
			if leg.resynced && leg.up {
				return false
			}
			leg.up = true
		}
	case signal.Dialling:
		if v.endedByResync(s.Peer.ID) || v.endedByResync(s.Leg.ID) {
			return false
		}
		if p := v.legs[s.Peer.ID]; p != nil {
			if p.resynced && p.dialled {
				return false
			}
			p.refresh(s.Peer)
			d := s.Leg
			p.dialled, p.dialler, p.dialOpen = true, &d, true
		}
	case signal.DialEnded:
		if v.endedByResync(s.Peer.ID) {
			return false
		}
		if p := v.legs[s.Peer.ID]; p != nil {
			if p.resynced && !p.dialOpen {
				return false
			}
			p.dialOpen = false
		}
	case signal.Joined:
		if v.endedByResync(s.Leg.ID) {
			return false
		}
		if leg != nil {
			if leg.resynced && leg.bridge == s.Bridge {
				return false
			}
			leg.bridge = s.Bridge
		}
	case signal.Left:
		if v.endedByResync(s.Leg.ID) {
			return false
		}
		if leg != nil {
			if leg.resynced && leg.bridge != s.Bridge {
				return false
			}
			if leg.bridge == s.Bridge {
				leg.bridge = ""
			}
		}
	case signal.LegGone:
		if v.endedByResync(s.Leg.ID) {
			return false
		}
		if s.Leg.ID != "" {
			v.forget(s.Leg.ID, false)
		}
	}
	return true
}
