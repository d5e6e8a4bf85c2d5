package callmodel

import (
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// queueSignal follows a caller through a queue: agents rung by the queue
// ring with usertype queue and all share the call's id; a call that ends
// without anyone answering and without ringing outside the queue is missed
// at queue level, its user the queue.
func (m *Model) queueSignal(s signal.Signal) []Event {
	switch s.Kind {
	case signal.QueueJoined:
		if c, _ := m.find(s.Leg); c != nil {
			c.queue = strings.Clone(s.Queue)
			c.inQueue = true
			if !c.talking {
				c.atQueue = true
			}
		}
	case signal.QueueLeft:
		if c, _ := m.find(s.Leg); c != nil {
			c.inQueue = false
		}
	case signal.AgentRinging:
		if c, l := m.find(s.Peer); l != nil {
			l.queue = strings.Clone(s.Queue)
		} else if c, _ = m.find(s.Leg); c != nil && s.Peer.ID != "" {
			m.addLeg(c, s.Peer).queue = strings.Clone(s.Queue)
		}
	case signal.AgentAnswered:
		// Normally the dial's answer came first; this covers PBXs that
		// report the answer only here.
		if c, l := m.find(s.Peer); l != nil && !l.local {
			l.dialled = true
			return m.answer(c, l, s.Time)
		}
	case signal.AgentNoAnswer:
		if c, l := m.find(s.Peer); l != nil {
			return m.stopRinging(c, l, s.Time)
		}
	}
	return nil
}

// memberSignal reports queue membership: added, removed, and the pause
// state, which is what logging in to or out of one queue means on PBXs
// whose queue members stay configured.
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

// statusSignal reports an extension's forwarding, queue login and
// existence.
func (m *Model) statusSignal(s signal.Signal) []Event {
	st := s.Status
	ev := Event{Time: s.Time, User: st.Extension, UserName: st.Name, Queue: st.Queue, Reason: st.Reason}
	switch s.Kind {
	case signal.ForwardingChanged:
		ev.Kind = ForwardingChanged
		ev.Forwarding = st.On
		ev.Destination = st.Destination
	case signal.QueueLoginChanged:
		ev.Kind = QueueLoginChanged
		if ev.Queue != "" {
			ev.Kind = QueueMemberLoginChanged
		}
		ev.LoggedIn = st.On
	case signal.ExtensionCreated:
		ev.Kind = ExtensionCreated
	case signal.ExtensionDeleted:
		ev.Kind = ExtensionDeleted
	}
	if ev.User == "" {
		m.log.Warn("status signal without extension", "kind", s.Kind)
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
	ev.N = m.status
	m.status++
	return ev
}
