package pbx

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of the queue member actions (QueueAdd, QueueRemove, QueuePause).
var (
	// ErrNoQueue: no queue has that number.
	ErrNoQueue = errors.New("pbx: no such queue")
	// ErrNoMember: the interface is not a member of the queue(s).
	ErrNoMember = errors.New("pbx: not a queue member")
	// ErrMemberExists: QueueAdd of a member already there.
	ErrMemberExists = errors.New("pbx: already a queue member")
	// ErrNotDynamic: static members cannot be removed.
	ErrNotDynamic = errors.New("pbx: queue member is static")
	// ErrNoInterface: the interface names no extension.
	ErrNoInterface = errors.New("pbx: interface is not an extension")
)

// extOf reads "PJSIP/103" (or "103") as an extension number.
func (p *PBX) extOf(iface string) (Extension, error) {
	num := strings.TrimPrefix(iface, "PJSIP/")
	e, ok := p.ext(num)
	if !ok {
		return Extension{}, fmt.Errorf("queue member %q: %w", iface, ErrNoInterface)
	}
	return e, nil
}

// QueueAdd adds iface to queue as a dynamic member (an agent logging in),
// as the QueueAdd manager action does: QueueMemberAdded follows.
func (p *PBX) QueueAdd(queue, iface, name string, penalty int, paused bool, reason string) error {
	qs, ok := p.queues[queue]
	if !ok {
		return fmt.Errorf("queue add %s: %w", queue, ErrNoQueue)
	}
	e, err := p.extOf(iface)
	if err != nil {
		return err
	}
	if name == "" {
		name = e.Name
	}
	qs.mu.Lock()
	if qs.member(e.Number) != nil {
		qs.mu.Unlock()
		return fmt.Errorf("queue add %s to %s: %w", iface, queue, ErrMemberExists)
	}
	m := &memberState{QueueMember: QueueMember{Ext: e.Number, Name: name}, dynamic: true, penalty: penalty,
		paused: paused, loginTime: p.now()}
	if paused {
		m.pausedReason, m.lastPause = reason, p.now()
	}
	qs.members = append(qs.members, m)
	f := qs.memberFields(m, 1)
	qs.mu.Unlock()
	p.pauseDevice(queue, e.Number, paused)
	p.emit(Event{Name: "QueueMemberAdded", Time: p.now(), Fields: f})
	return nil
}

// QueueRemove removes a dynamic member (an agent logging out):
// QueueMemberRemoved follows.
func (p *PBX) QueueRemove(queue, iface string) error {
	qs, ok := p.queues[queue]
	if !ok {
		return fmt.Errorf("queue remove %s: %w", queue, ErrNoQueue)
	}
	e, err := p.extOf(iface)
	if err != nil {
		return err
	}
	qs.mu.Lock()
	idx := -1
	for i, m := range qs.members {
		if m.Ext == e.Number {
			idx = i
		}
	}
	if idx < 0 {
		qs.mu.Unlock()
		return fmt.Errorf("queue remove %s from %s: %w", iface, queue, ErrNoMember)
	}
	m := qs.members[idx]
	if !m.dynamic {
		qs.mu.Unlock()
		return fmt.Errorf("queue remove %s from %s: %w", iface, queue, ErrNotDynamic)
	}
	qs.members = append(qs.members[:idx], qs.members[idx+1:]...)
	f := qs.memberFields(m, 1)
	qs.mu.Unlock()
	p.emit(Event{Name: "QueueMemberRemoved", Time: p.now(), Fields: f})
	return nil
}

// QueuePause pauses or unpauses iface in queue, or in every queue it is a
// member of when queue is empty: QueueMemberPause follows for each.
func (p *PBX) QueuePause(queue, iface string, paused bool, reason string) error {
	e, err := p.extOf(iface)
	if err != nil {
		return err
	}
	var targets []*queueState
	if queue == "" {
		for _, qs := range p.queues {
			targets = append(targets, qs)
		}
	} else {
		qs, ok := p.queues[queue]
		if !ok {
			return fmt.Errorf("queue pause %s: %w", queue, ErrNoQueue)
		}
		targets = []*queueState{qs}
	}
	found := false
	for _, qs := range targets {
		qs.mu.Lock()
		m := qs.member(e.Number)
		if m == nil {
			qs.mu.Unlock()
			continue
		}
		found = true
		m.paused = paused
		if paused {
			m.pausedReason, m.lastPause = reason, p.now()
		} else {
			m.pausedReason = ""
		}
		f := qs.memberFields(m, 1)
		number := qs.cfg.Number
		qs.mu.Unlock()
		p.pauseDevice(number, e.Number, paused)
		p.emit(Event{Name: "QueueMemberPause", Time: p.now(), Fields: f})
	}
	if !found {
		return fmt.Errorf("queue pause %s: %w", iface, ErrNoMember)
	}
	return nil
}

// pauseDevice reports app_queue's pause device (Queue:<q>_pause_<iface>).
func (p *PBX) pauseDevice(queue, ext string, paused bool) {
	st := "NOT_INUSE"
	if paused {
		st = "INUSE"
	}
	p.emit(Event{Name: "DeviceStateChange", Time: p.now(), Fields: []Field{
		{"Device", fmt.Sprintf("Queue:%s_pause_%s", queue, device(ext))}, {"State", st}}})
}
