package pbx

// A ladder is kept per SIP Call-ID, but one call of the PBX has several
// legs (a B2BUA dialog per party, more with transfers and queues). The
// PBX notes, for each Call-ID, the Linkedid of the channel that leg
// became, so an inspector can show a call's legs together, grouped as
// the manager interface groups the call's channels.

// ladderLink notes that Call-ID callID is a leg of the call linkedid; the
// first note wins (a transfer that hands a leg to another call keeps the
// call it started in). Without Config.Ladder it does nothing.
func (p *PBX) ladderLink(callID, linkedid string) {
	l := p.ladder
	if l == nil || callID == "" || linkedid == "" {
		return
	}
	l.mu.Lock()
	if l.links == nil {
		l.links = map[string]string{}
	}
	if _, ok := l.links[callID]; !ok {
		l.links[callID] = linkedid
	}
	l.mu.Unlock()
}

// LadderLinkedid is the Linkedid of the call whose leg Call-ID callID
// was, "" when the PBX never made a channel of it (a REGISTER, an
// OPTIONS ping, a call refused before the dialplan) or Config.Ladder is
// off.
func (p *PBX) LadderLinkedid(callID string) string {
	if p.ladder == nil {
		return ""
	}
	p.ladder.mu.Lock()
	defer p.ladder.mu.Unlock()
	return p.ladder.links[callID]
}
