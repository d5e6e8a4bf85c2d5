package ami

import (
	"strings"
	"sync"

	"github.com/callhook/callhook/core/signal"
)

// localPairs absorbs Asterisk's Local channels. When Asterisk dials on a
// call's behalf (an attended transfer by the *2 feature or the Atxfer
// action, a Local queue member), it creates a pair Local/EXTEN@CTX-N;1
// and ;2: ;1 sits in the call's bridge as if it were the party, ;2 runs
// the dialplan and dials the real device, and once the transfer completes
// Asterisk optimises the pair away (LocalOptimizationBegin/End), moving
// the real legs into one bridge. The model sees none of that plumbing:
// the pair's legs, bridges and states are dropped; ;2's dial becomes a
// dial the PBX made for the call (a Dialling without a dialling leg); a
// transfer whose target is the pair names the device ;2 dialled.
type localPairs struct {
	mu    sync.Mutex
	pairs map[string]*localPair // by channel base name, Local/103@from-internal-00000003
	byID  map[string]*localPair // by Uniqueid of either half
}

type localPair struct {
	ids  [2]string  // Uniqueids of ;1 and ;2
	far  signal.Leg // the device ;2 dialled
	gone int        // halves hung up
}

func newLocalPairs() *localPairs {
	return &localPairs{pairs: map[string]*localPair{}, byID: map[string]*localPair{}}
}

// localBase splits a Local channel name into its pair's base name and its
// half (1 or 2); ok is false for other channels.
func localBase(name string) (base string, half int, ok bool) {
	if !strings.HasPrefix(name, "Local/") {
		return "", 0, false
	}
	name, _, _ = strings.Cut(name, "<") // <ZOMBIE>, <MASQ>
	i := strings.LastIndexByte(name, ';')
	if i < 0 {
		return "", 0, false
	}
	switch name[i+1:] {
	case "1":
		return name[:i], 1, true
	case "2":
		return name[:i], 2, true
	}
	return "", 0, false
}

// callOnly is a leg that names its call and nothing else: the PBX itself
// acting on the call.
func callOnly(l signal.Leg) signal.Leg { return signal.Leg{Call: l.Call, CallSeq: l.CallSeq} }

// absorb rewrites s, translated from m, so that no Local channel shows;
// false drops it.
func (p *localPairs) absorb(m Message, s *signal.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s.Kind {
	case signal.LegAppeared:
		if !s.Leg.Loopback {
			return true
		}
		base, half, ok := localBase(m.Get("Channel"))
		if ok {
			pair := p.pairs[base]
			if pair == nil {
				pair = &localPair{}
				p.pairs[base] = pair
			}
			pair.ids[half-1] = s.Leg.ID
			p.byID[s.Leg.ID] = pair
		}
		return false
	case signal.Dialling:
		switch {
		case s.Peer.Loopback:
			return false // the call dials ;1: the dial that counts is ;2's
		case s.Leg.Loopback:
			if pair := p.byID[s.Leg.ID]; pair != nil {
				pair.far = s.Peer
			}
			s.Leg = callOnly(s.Leg)
		}
		return true
	case signal.LegAlerting:
		if s.Leg.Loopback {
			return false
		}
		if s.Peer.Loopback {
			s.Peer = signal.Leg{}
		}
		return true
	case signal.DialEnded:
		if s.Peer.Loopback {
			return false
		}
		if s.Leg.Loopback {
			s.Leg = callOnly(s.Leg)
		}
		return true
	case signal.LegGone:
		if !s.Leg.Loopback {
			return true
		}
		if pair := p.byID[s.Leg.ID]; pair != nil {
			delete(p.byID, s.Leg.ID)
			if pair.gone++; pair.gone == 2 {
				for base, q := range p.pairs {
					if q == pair {
						delete(p.pairs, base)
					}
				}
			}
		}
		return false
	case signal.Transferred:
		if s.Transfer == nil {
			return true
		}
		x := s.Transfer
		for _, l := range []*signal.Leg{&x.Target, &x.Transferer, &x.SecondTransferer, &x.Transferee} {
			if !l.Loopback {
				continue
			}
			// A pair stands for the device its ;2 reached.
			if pair := p.byID[l.ID]; pair != nil && pair.far.ID != "" {
				*l = pair.far
			} else {
				*l = signal.Leg{}
			}
		}
		return true
	}
	return !s.Leg.Loopback
}
