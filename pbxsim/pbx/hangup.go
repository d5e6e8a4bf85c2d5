package pbx

import "errors"

// ErrNoChannel: the manager's Hangup named no channel the PBX can hang up.
var ErrNoChannel = errors.New("no such channel")

// Hangup ends the bridged two-party call that channel (a full channel
// name, "PJSIP/101-00000001") is part of, as the manager's Hangup action
// does: both legs get the PBX's BYE. Channels still ringing, in a queue,
// a ring group or a menu are not covered and give ErrNoChannel.
func (p *PBX) Hangup(channel string) error {
	var target *call
	var isCaller bool
	p.mu.Lock()
	for lc := range p.live {
		c, ok := lc.(*call)
		if !ok {
			continue
		}
		c.mu.Lock()
		if c.phase == phaseUp && (c.caller.Name == channel || c.callee.Name == channel) {
			target, isCaller = c, c.caller.Name == channel
			c.managerHangup = true
		}
		c.mu.Unlock()
		if target != nil {
			break
		}
	}
	p.mu.Unlock()
	if target == nil {
		return ErrNoChannel
	}
	go target.hangup(isCaller, true, true)
	return nil
}
