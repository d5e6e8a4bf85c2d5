package pbx

import (
	"sort"
	"strconv"
	"time"
)

// QueueStatus is one queue as the QueueStatus manager action reports it:
// a QueueParams block, a QueueMember block per member and a QueueEntry
// block per waiting caller, each as app_queue writes them (field order
// included).
type QueueStatus struct {
	Params  []Field
	Members [][]Field
	Entries [][]Field
}

// QueueStatus lists the queues (only queue, when not ""), with their
// members (only the one whose interface or name is member, when not "")
// and waiting callers, as a client resynchronising with QueueStatus sees
// them. As in app_queue, a member filter leaves the QueueParams out.
func (p *PBX) QueueStatus(queue, member string) []QueueStatus {
	nums := make([]string, 0, len(p.queues))
	for n := range p.queues {
		if queue == "" || n == queue {
			nums = append(nums, n)
		}
	}
	sort.Strings(nums)
	now := p.now()
	var out []QueueStatus
	for _, n := range nums {
		qs := p.queues[n]
		out = append(out, qs.status(p, member, now))
	}
	return out
}

func (qs *queueState) status(p *PBX, member string, now time.Time) QueueStatus {
	// Copies taken under the queue's lock; device states are read after
	// it is released, as the call goroutines take the locks in that order.
	qs.mu.Lock()
	members := make([]memberState, len(qs.members))
	for i, m := range qs.members {
		members[i] = *m
	}
	waiting := append([]waitingCaller(nil), qs.waiting...)
	callers, completed, abandoned := qs.callers, qs.completed, qs.abandoned
	holdSum, talkSum := qs.holdSum, qs.talkSum
	qs.mu.Unlock()

	var st QueueStatus
	if member == "" {
		hold, talk := 0, 0
		if completed > 0 {
			hold = int(holdSum / time.Second / time.Duration(completed))
			talk = int(talkSum / time.Second / time.Duration(completed))
		}
		st.Params = []Field{
			{"Queue", qs.cfg.Number}, {"Max", "0"}, {"Strategy", qs.cfg.Strategy},
			{"Calls", strconv.Itoa(callers)}, {"Holdtime", strconv.Itoa(hold)}, {"TalkTime", strconv.Itoa(talk)},
			{"Completed", strconv.Itoa(completed)}, {"Abandoned", strconv.Itoa(abandoned)},
			// No service level is configured (queues.conf servicelevel=0).
			{"ServiceLevel", "0"}, {"ServicelevelPerf", "0.0"}, {"ServicelevelPerf2", "0.0"}, {"Weight", "0"},
		}
	}
	for _, m := range members {
		iface := device(m.Ext)
		if member != "" && member != iface && member != m.Name {
			continue
		}
		status := p.deviceStatus(m.Ext)
		membership := "static"
		if m.dynamic {
			membership = "dynamic"
		}
		st.Members = append(st.Members, []Field{
			{"Queue", qs.cfg.Number}, {"Name", m.Name}, {"Location", iface}, {"StateInterface", iface},
			{"Membership", membership}, {"Penalty", strconv.Itoa(m.penalty)}, {"CallsTaken", strconv.Itoa(m.callsTaken)},
			{"LastCall", epoch(m.lastCall)}, {"LastPause", epoch(m.lastPause)}, {"LoginTime", epoch(m.loginTime)},
			{"InCall", boolDigit(status == devInUse || status == devRingInUse)}, {"Status", strconv.Itoa(status)},
			{"Paused", boolDigit(m.paused)}, {"PausedReason", m.pausedReason}, {"Wrapuptime", "0"},
		})
	}
	if member == "" {
		for i, w := range waiting {
			st.Entries = append(st.Entries, []Field{
				{"Queue", qs.cfg.Number}, {"Position", strconv.Itoa(i + 1)}, {"Channel", w.ch.Name},
				{"Uniqueid", w.ch.Uniqueid}, {"CallerIDNum", w.ch.CallerIDNum}, {"CallerIDName", w.ch.CallerIDName},
				{"ConnectedLineNum", w.ch.ConnectedLineNum}, {"ConnectedLineName", w.ch.ConnectedLineName},
				{"Wait", strconv.Itoa(int(now.Sub(w.joined) / time.Second))}, {"Priority", "0"},
			})
		}
	}
	return st
}

// Device states as app_queue reports them (enum ast_device_state).
const (
	devNotInUse    = 1
	devInUse       = 2
	devUnavailable = 5
	devRinging     = 6
	devRingInUse   = 7
)

// deviceStatus is ext's device state: unavailable while not registered,
// else from its channels as devCheck aggregates them.
func (p *PBX) deviceStatus(ext string) int {
	if p.lookupBinding(ext) == nil {
		return devUnavailable
	}
	p.devMu.Lock()
	n := p.devCount[device(ext)]
	p.devMu.Unlock()
	switch {
	case n.ringing > 0 && n.inuse > 0:
		return devRingInUse
	case n.ringing > 0:
		return devRinging
	case n.inuse > 0:
		return devInUse
	}
	return devNotInUse
}
