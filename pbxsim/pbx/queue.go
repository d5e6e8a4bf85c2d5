package pbx

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Queue is an app_queue queue reached on a DID through
// Answer() → Queue(<Number>,t,,,<Timeout>,,sub-record).
type Queue struct {
	Number string // "800"
	DID    string // the carrier number routed to the queue
	// Strategy is "ringall" (default) or "rrmemory" (one member at a time,
	// in turn, remembering where the last call stopped).
	Strategy string
	// Members are the static members, in order.
	Members []QueueMember
	// MemberTimeout is how long a member rings (15 s); Retry is the pause
	// before the next round (5 s); Timeout is how long a caller waits in
	// all before the queue gives up (120 s).
	MemberTimeout, Retry, Timeout time.Duration
}

// QueueMember is a queue member: an extension's device.
type QueueMember struct {
	Ext  string // "101"; the interface is PJSIP/<Ext>
	Name string // MemberName, "Alice 101"
}

// Queue defaults, those of the captures' queue 800.
const (
	DefaultMemberTimeout = 15 * time.Second
	DefaultQueueRetry    = 5 * time.Second
	DefaultQueueTimeout  = 120 * time.Second
)

// memberState is one member of a running queue, as QueueMemberStatus and
// QueueStatus report it.
type memberState struct {
	QueueMember
	dynamic      bool
	paused       bool
	pausedReason string
	penalty      int
	callsTaken   int
	lastCall     time.Time
	lastPause    time.Time
	loginTime    time.Time
}

// waitingCaller is a caller in a queue: its channel as it joined (the
// call's own goroutine owns the live one).
type waitingCaller struct {
	qc     *queueCall
	ch     Channel
	joined time.Time
}

// queueState is a queue and its members while the PBX runs.
type queueState struct {
	cfg     Queue
	mu      sync.Mutex
	members []*memberState
	next    int // rrmemory: the member to ring first next time
	callers int
	waiting []waitingCaller // in the order they joined, for QueueStatus
	// completed and abandoned count calls, holdSum and talkSum their
	// seconds, for QueueParams and QueueSummary.
	completed, abandoned int
	holdSum, talkSum     time.Duration
}

func newQueueState(q Queue, now time.Time) *queueState {
	if q.Strategy == "" {
		q.Strategy = "ringall"
	}
	if q.MemberTimeout <= 0 {
		q.MemberTimeout = DefaultMemberTimeout
	}
	if q.Retry <= 0 {
		q.Retry = DefaultQueueRetry
	}
	if q.Timeout <= 0 {
		q.Timeout = DefaultQueueTimeout
	}
	qs := &queueState{cfg: q}
	for _, m := range q.Members {
		qs.members = append(qs.members, &memberState{QueueMember: m, loginTime: now})
	}
	return qs
}

// pick lists the members to ring this round: every available member for
// ringall, the next available one in turn for rrmemory.
func (qs *queueState) pick() []QueueMember {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	var avail []int
	for i, m := range qs.members {
		if !m.paused {
			avail = append(avail, i)
		}
	}
	if len(avail) == 0 {
		return nil
	}
	if qs.cfg.Strategy == "rrmemory" {
		for _, i := range avail {
			if i >= qs.next {
				qs.next = i + 1
				return []QueueMember{qs.members[i].QueueMember}
			}
		}
		qs.next = avail[0] + 1
		return []QueueMember{qs.members[avail[0]].QueueMember}
	}
	out := make([]QueueMember, len(avail))
	for i, a := range avail {
		out[i] = qs.members[a].QueueMember
	}
	return out
}

func (qs *queueState) member(ext string) *memberState {
	for _, m := range qs.members {
		if m.Ext == ext {
			return m
		}
	}
	return nil
}

func epoch(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// memberFields is app_queue's member block (QueueMemberAdded, ...Pause,
// ...Removed, ...Status). status is the device state number (1 not in
// use, 2 in use, 6 ringing).
func (qs *queueState) memberFields(m *memberState, status int) []Field {
	membership := "static"
	if m.dynamic {
		membership = "dynamic"
	}
	iface := device(m.Ext)
	return []Field{
		{"Queue", qs.cfg.Number}, {"MemberName", m.Name}, {"Interface", iface}, {"StateInterface", iface},
		{"Membership", membership}, {"Penalty", strconv.Itoa(m.penalty)}, {"CallsTaken", strconv.Itoa(m.callsTaken)},
		{"LastCall", epoch(m.lastCall)}, {"LastPause", epoch(m.lastPause)}, {"LoginTime", epoch(m.loginTime)},
		{"InCall", "0"}, {"Status", strconv.Itoa(status)}, {"Paused", boolDigit(m.paused)},
		{"PausedReason", m.pausedReason}, {"Ringinuse", "0"}, {"Wrapuptime", "0"},
	}
}

// queueData is the Queue application's argument, as the capture's dialplan.
func (q *Queue) queueData() string {
	return fmt.Sprintf("%s,t,,,%d,,sub-record", q.Number, int(q.Timeout.Seconds()))
}
