package esl

import (
	"strings"

	"github.com/google/uuid"
)

// queueName and agentName are mod_callcenter's names, which its
// configuration conventionally writes as NAME@DOMAIN.
func queueName(q, domain string) string {
	if q == "" || strings.Contains(q, "@") {
		return q
	}
	return q + "@" + domain
}

func agentName(ext, domain string) string {
	if ext == "" || strings.Contains(ext, "@") {
		return ext
	}
	return ext + "@" + domain
}

// memberUUID is the CC-Member-UUID of a caller in a queue.
func (t *translator) memberUUID(c *channel, queue string) string {
	k := c.uuid + "/" + queue
	if id, ok := t.members[k]; ok {
		return id
	}
	id := uuid.NewString()
	t.members[k] = id
	return id
}

// cc builds a callcenter::info event about a queue caller.
func (t *translator) cc(action string, caller *channel, queue string, more func(*Event)) *Event {
	ev := custom("callcenter::info", Header{"CC-Queue", queueName(queue, t.domain)}, Header{"CC-Action", action})
	if more != nil {
		more(ev)
	}
	ev.Add("CC-Member-UUID", t.memberUUID(caller, queue))
	ev.Add("CC-Member-Session-UUID", caller.uuid)
	ev.Add("CC-Member-CID-Name", caller.cidName)
	ev.Add("CC-Member-CID-Number", caller.cidNum)
	return ev
}

// memberEvent is member-queue-start: the member's channel data with the
// queue headers (mod_callcenter.c, callcenter_function).
func (t *translator) memberEvent(action string, c *channel, queue string) *Event {
	ev := custom("callcenter::info")
	t.channelData(ev, c)
	ev.Add("CC-Queue", queueName(queue, t.domain))
	ev.Add("CC-Action", action)
	ev.Add("CC-Member-UUID", t.memberUUID(c, queue))
	ev.Add("CC-Member-Session-UUID", c.uuid)
	ev.Add("CC-Member-CID-Name", c.cidName)
	ev.Add("CC-Member-CID-Number", c.cidNum)
	return ev
}

// memberEnd is member-queue-end: CC-Cause Terminated after an agent's
// conversation, Cancel when the member left unanswered, with
// CC-Cancel-Reason NONE when it hung up (cc_member_cancel_reason2str).
func (t *translator) memberEnd(c *channel, queue, cause string) *Event {
	if queue == "" {
		queue = t.queueOf[c.uuid]
	}
	ev := t.memberEvent("member-queue-end", c, queue)
	ev.Add("CC-Cause", cause)
	if cause == "Cancel" {
		reason := "TIMEOUT"
		if t.abandon[c.uuid] {
			reason = "NONE"
		}
		ev.Add("CC-Cancel-Reason", reason)
	}
	delete(t.queueOf, c.uuid)
	delete(t.abandon, c.uuid)
	return ev
}
