package ami

import (
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// A translated signal's strings are slices of the packet it was read from
// (one string per packet, see packetReader). The view and the call model
// keep legs, ids and names for as long as a call lasts, so a kept string
// would pin its whole packet: with thousands of calls open that is most
// of the engine's memory. detach makes the strings of a signal the
// view's own copies of that channel's, or fresh copies, before the signal
// is queued.
func (v *chanView) detach(s *signal.Signal) {
	v.detachLeg(&s.Leg)
	v.detachLeg(&s.Peer)
	s.Number = strings.Clone(s.Number)
	s.Bridge = strings.Clone(s.Bridge)
	s.Queue = strings.Clone(s.Queue)
	s.Menu = strings.Clone(s.Menu)
	s.File = strings.Clone(s.File)
	s.Teardown.Cause = strings.Clone(s.Teardown.Cause)
	s.Teardown.Disposition = strings.Clone(s.Teardown.Disposition)
	if s.Member != (signal.Member{}) {
		s.Member.Endpoint = strings.Clone(s.Member.Endpoint)
		s.Member.Name = strings.Clone(s.Member.Name)
		s.Member.Reason = strings.Clone(s.Member.Reason)
	}
}

// detachLeg shares the strings the view already holds for the channel and
// copies the others, all new ones in one allocation.
func (v *chanView) detachLeg(l *signal.Leg) {
	kept := v.legs[l.ID]
	if kept == nil {
		*l = cloneLeg(*l)
		return
	}
	k := &kept.leg
	fields := [...]struct{ s, k *string }{
		{&l.ID, &k.ID}, {&l.Call, &k.Call}, {&l.Endpoint, &k.Endpoint},
		{&l.CallerNum, &k.CallerNum}, {&l.CallerName, &k.CallerName},
		{&l.ConnectedNum, &k.ConnectedNum}, {&l.ConnectedName, &k.ConnectedName},
		{&l.Number, &k.Number},
	}
	for _, f := range fields {
		if *f.s == *f.k {
			*f.s = *f.k
		} else {
			*f.s = strings.Clone(*f.s)
		}
	}
}

// cloneLeg copies the leg's strings into one new allocation.
func cloneLeg(l signal.Leg) signal.Leg {
	fields := [...]*string{&l.ID, &l.Call, &l.Endpoint, &l.CallerNum, &l.CallerName,
		&l.ConnectedNum, &l.ConnectedName, &l.Number}
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	if n == 0 {
		return l
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all, at := b.String(), 0
	for _, f := range fields {
		*f = all[at : at+len(*f)]
		at += len(*f)
	}
	return l
}
