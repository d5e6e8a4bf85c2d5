package callmodel

import (
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// UserEvent names the model understands. The PBX's dialplan (or whatever
// provisions it) raises them where the PBX itself has no event: Asterisk
// reports neither call forwarding, nor extensions being created, nor a
// queue callback being ordered. Header names are case-insensitive.
const (
	// UserEventCallback, raised on the caller's channel while it waits in a
	// queue, says the caller ordered a callback.
	UserEventCallback = "CallhookCallback"
	// UserEventForwarding: headers Extension, Status (on|off), Destination.
	UserEventForwarding = "CallhookForwarding"
	// UserEventQueueLogin: headers Extension, Status (in|out) and, for one
	// queue only, Queue; without Queue it is the global login.
	UserEventQueueLogin = "CallhookQueueLogin"
	// UserEventExtension: headers Extension, Status (created|deleted), Name.
	UserEventExtension = "CallhookExtension"
)

// queueSignal follows a caller through a queue: agents rung by the queue
// ring with usertype queue and all share the call's id; a call that ends
// without anyone answering and without ringing outside the queue is missed
// at queue level, its user the queue.
func (m *Model) queueSignal(s signal.Signal) []Event {
	switch s.Kind {
	case signal.QueueJoin:
		if c, _ := m.find(s.Leg); c != nil {
			c.queue = s.Queue
			c.inQueue = true
			if !c.talking {
				c.atQueue = true
			}
		}
	case signal.QueueLeave:
		if c, _ := m.find(s.Leg); c != nil {
			c.inQueue = false
		}
	case signal.AgentCalled:
		if c, l := m.find(s.Peer); l != nil {
			l.queue = s.Queue
		} else if c, _ = m.find(s.Leg); c != nil && s.Peer.ID != "" {
			m.addLeg(c, s.Peer).queue = s.Queue
		}
	case signal.AgentConnect:
		// Normally the dial's answer came first; this covers PBXs that
		// report the answer only here.
		if c, l := m.find(s.Peer); l != nil && !l.local {
			l.dialled = true
			return m.answer(c, l, s.Time)
		}
	case signal.AgentRingNoAnswer:
		if c, l := m.find(s.Peer); l != nil {
			return m.stopRinging(c, l, s.Time)
		}
	}
	return nil
}

// memberSignal reports queue membership: added, removed, and the pause
// state, which is what logging in to or out of one queue means in Asterisk.
func (m *Model) memberSignal(s signal.Signal) []Event {
	ev := Event{Time: s.Time, User: s.Member.Endpoint, UserName: s.Member.Name, Queue: s.Queue}
	switch s.Kind {
	case signal.MemberAdded:
		ev.Kind = AgentAdded
	case signal.MemberRemoved:
		ev.Kind = AgentRemoved
	case signal.MemberPaused:
		ev.Kind = QueueMemberLoginChanged
		ev.LoggedIn = !s.Member.Paused
		ev.Paused = true
		ev.Reason = s.Member.Reason
	}
	return []Event{m.emitStatus(ev)}
}

func (m *Model) userEvent(s signal.Signal) []Event {
	get := func(key string) string {
		for k, v := range s.Data {
			if strings.EqualFold(k, key) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	status := strings.ToLower(get("Status"))
	ev := Event{Time: s.Time, User: get("Extension"), UserName: get("Name"), Queue: get("Queue"), Reason: get("Reason")}
	switch {
	case strings.EqualFold(s.Name, UserEventCallback):
		c, _ := m.find(s.Leg)
		if c == nil {
			c = m.calls[get("Linkedid")]
		}
		if c != nil {
			c.callback = true
		}
		return nil
	case strings.EqualFold(s.Name, UserEventForwarding):
		ev.Kind = ForwardingChanged
		ev.Forwarding = status == "on" || status == "1" || status == "yes"
		ev.Destination = get("Destination")
	case strings.EqualFold(s.Name, UserEventQueueLogin):
		ev.Kind = QueueLoginChanged
		if ev.Queue != "" {
			ev.Kind = QueueMemberLoginChanged
		}
		ev.LoggedIn = status == "in" || status == "login" || status == "1"
	case strings.EqualFold(s.Name, UserEventExtension):
		switch status {
		case "created":
			ev.Kind = ExtensionCreated
		case "deleted":
			ev.Kind = ExtensionDeleted
		default:
			m.log.Warn("extension user event without created/deleted status", "status", status)
			return nil
		}
	default:
		return nil
	}
	if ev.User == "" {
		m.log.Warn("status user event without Extension", "event", s.Name)
		return nil
	}
	return []Event{m.emitStatus(ev)}
}

// emitStatus numbers a status event. Status events have no call id; Seq
// counts them over the model's life.
func (m *Model) emitStatus(ev Event) Event {
	if ev.UserType == 0 {
		ev.UserType = UserExtension
	}
	ev.Seq = m.status
	m.status++
	return ev
}
