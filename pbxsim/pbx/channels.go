package pbx

import "time"

// LiveChannel is one channel in progress, as CoreShowChannels lists it.
type LiveChannel struct {
	Channel         Channel
	BridgeID        string // "" when not bridged
	Application     string // "Dial", "AppDial", "ChanSpy", ...
	ApplicationData string
	Created         time.Time
}

// Channels lists the channels of the calls in progress (two-party calls,
// transfers, ring groups, IVR and barge; not yet the legs of queue
// calls), for a client resynchronising with CoreShowChannels.
func (p *PBX) Channels() []LiveChannel {
	p.mu.Lock()
	live := make([]liveCall, 0, len(p.live))
	for lc := range p.live {
		live = append(live, lc)
	}
	p.mu.Unlock()
	var out []LiveChannel
	for _, lc := range live {
		switch c := lc.(type) {
		case *call:
			out = append(out, c.channels()...)
		case *spy:
			c.c.mu.Lock()
			out = append(out, LiveChannel{Channel: c.ch, Application: "ChanSpy", ApplicationData: "PJSIP/" + c.spyee.CallerIDNum + "-,qE", Created: c.c.start})
			c.c.mu.Unlock()
		}
	}
	return out
}

func (c *call) channels() []LiveChannel {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caller.Name == "" || c.phase == phaseEnded {
		return nil
	}
	app, data := "Dial", c.dialData()
	if c.ivrDigit != nil {
		app, data = "WaitExten", ""
	}
	out := []LiveChannel{{Channel: c.caller, Application: app, ApplicationData: data, Created: c.start}}
	if c.phase == phaseUp {
		out[0].BridgeID = c.bridge.Uniqueid
	}
	if c.callee.Name != "" && c.ivrDigit == nil {
		callee := LiveChannel{Channel: c.callee, Application: "AppDial", ApplicationData: "(Outgoing Line)", Created: c.start}
		if c.phase == phaseUp {
			callee.BridgeID = c.bridge.Uniqueid
		}
		out = append(out, callee)
	}
	return out
}
