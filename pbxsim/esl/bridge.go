package esl

import (
	"time"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// bridgeEnter pairs two channels meeting in an AMI bridge: FreeSWITCH's
// CHANNEL_BRIDGE, fired by the bridging leg (Bridge-A, the one that
// dialled the other, else the older).
func (t *translator) bridgeEnter(out []*Event, e pbx.Event) []*Event {
	c := t.find(e.Channel)
	if c == nil || e.Bridge == nil {
		return out
	}
	id := e.Bridge.Uniqueid
	t.bridges[id] = append(t.bridges[id], c)
	var others []*channel
	for _, m := range t.bridges[id] {
		if m != c && t.live[m.ami] != nil {
			others = append(others, m)
		}
	}
	if len(others) != 1 {
		return out
	}
	x := others[0]
	if c.local || x.local {
		return t.atxBridge(out, c, x, e.Time)
	}
	if x.partner == c {
		return out
	}
	out = t.resolve(out, c)
	// A partner left behind by a dropped leg is rejoined without an
	// unbridge: FreeSWITCH ends a bridge once one side is gone.
	if x.partner != nil && t.live[x.partner.ami] != nil {
		out = t.unbridge(out, x)
	}
	if c.partner != nil {
		out = t.unbridge(out, c)
	}
	a, b := x, c
	if x.originator == c || (c.originator != x && c.seq < x.seq) {
		a, b = c, x
	}
	return t.pair(out, a, b, id, e.Time)
}

// pair bridges a (Bridge-A, the bridging leg) with b: CHANNEL_BRIDGE,
// fired with a's data (switch_ivr_multi_threaded_bridge). in is the AMI
// bridge the pair stands for.
func (t *translator) pair(out []*Event, a, b *channel, in string, at time.Time) []*Event {
	out = t.ensure(out, a)
	out = t.ensure(out, b)
	a.partner, b.partner = b, a
	a.stale, b.stale = false, false
	a.leads, b.leads = true, false
	a.pairedIn, b.pairedIn = in, in
	a.bridged, b.bridged = at, at
	a.state, b.state = "CS_EXCHANGE_MEDIA", "CS_EXCHANGE_MEDIA"
	ev := t.event("CHANNEL_BRIDGE", a)
	ev.Add("Bridge-A-Unique-ID", a.uuid)
	ev.Add("Bridge-B-Unique-ID", b.uuid)
	return append(out, ev)
}

// bridgeLeave: a leg hanging up or moved elsewhere ends its pair; one that
// left without either (a mobile device that dropped) leaves its partner
// waiting, resolved by what comes next (resolve).
func (t *translator) bridgeLeave(out []*Event, e pbx.Event) []*Event {
	c := t.find(e.Channel)
	if c == nil || e.Bridge == nil {
		return out
	}
	id := e.Bridge.Uniqueid
	ms := t.bridges[id]
	withLocal := false
	for _, m := range ms {
		withLocal = withLocal || (m.local && m != c)
	}
	for i, m := range ms {
		if m == c {
			t.bridges[id] = append(ms[:i:i], ms[i+1:]...)
			break
		}
	}
	if c.local {
		return out
	}
	if x := t.atx[c]; x != nil && c == x.transferer && withLocal {
		return t.atxLeave(out, x)
	}
	// Only leaving the bridge its pair stands for ends the pair.
	if c.partner == nil || c.pairedIn != id {
		return out
	}
	if c.hangupReq || t.live[c.partner.ami] == nil {
		return t.unbridge(out, c)
	}
	c.stale = true
	return out
}

// resolve ends the pairs of channels that left a bridge without hanging
// up, once another event shows they went elsewhere.
func (t *translator) resolve(out []*Event, cs ...*channel) []*Event {
	for _, c := range cs {
		if c == nil {
			continue
		}
		if c.stale && c.partner != nil {
			out = t.unbridge(out, c)
		}
		if p := c.partner; p != nil && p.stale {
			out = t.unbridge(out, p)
		}
	}
	return out
}

// unbridge fires CHANNEL_UNBRIDGE for c's pair.
func (t *translator) unbridge(out []*Event, c *channel) []*Event {
	p := c.partner
	if p == nil {
		return out
	}
	a, b := c, p
	switch {
	case p.leads != c.leads:
		if p.leads {
			a, b = p, c
		}
	case c.originator == p || (p.originator != c && p.seq < c.seq):
		a, b = p, c
	}
	ev := t.event("CHANNEL_UNBRIDGE", a)
	ev.Add("Bridge-A-Unique-ID", a.uuid)
	ev.Add("Bridge-B-Unique-ID", b.uuid)
	c.partner, p.partner = nil, nil
	c.stale, p.stale = false, false
	return append(out, ev)
}
