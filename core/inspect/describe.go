package inspect

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/signal"
)

// signalView is one PBX signal as the page shows it.
type signalView struct {
	Seq    int64     `json:"seq"`
	Seen   time.Time `json:"seen"` // when the inspector saw it
	Time   time.Time `json:"time"` // when the PBX says it happened
	Kind   string    `json:"kind"`
	Leg    string    `json:"leg,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// eventView is one call model event as the page shows it.
type eventView struct {
	Seq    int64     `json:"seq"`
	Seen   time.Time `json:"seen"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	CallID string    `json:"call_id,omitempty"`
	Key    string    `json:"key"`
	Detail string    `json:"detail,omitempty"`
	ev     callmodel.Event
}

// legName names a leg by its device and the PBX's id of it.
func legName(l signal.Leg) string {
	if l.ID == "" {
		return ""
	}
	ep := l.Endpoint
	if l.Loopback {
		ep = "loopback"
	}
	if ep == "" {
		return l.ID
	}
	return ep + " (" + l.ID + ")"
}

// describeSignal says what a signal reports beyond its kind and leg.
func describeSignal(s signal.Signal) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	switch s.Kind {
	case signal.LegAppeared:
		add("caller", s.Leg.CallerNum)
		add("number", s.Leg.Number)
		add("state", s.Leg.State.String())
	case signal.Dialling:
		add("to", legName(s.Peer))
		add("number", s.Number)
	case signal.DialEnded:
		add("to", legName(s.Peer))
		add("outcome", s.Outcome.String())
	case signal.Joined, signal.Left:
		add("bridge", s.Bridge)
	case signal.LegGone:
		if s.Cause != 0 {
			add("cause", fmt.Sprint(s.Cause))
		}
	case signal.Transferred:
		t := s.Transfer
		add("kind", map[signal.TransferKind]string{signal.Blind: "blind", signal.Attended: "attended"}[t.Kind])
		add("done", fmt.Sprint(t.Done))
		add("by", legName(t.Transferer))
		add("number", t.Number)
		add("target", legName(t.Target))
	case signal.QueueJoined, signal.QueueLeft, signal.QueueAbandoned:
		add("queue", s.Queue)
	case signal.AgentRinging, signal.AgentNoAnswer, signal.AgentAnswered, signal.AgentDone,
		signal.MemberAdded, signal.MemberRemoved, signal.MemberPaused, signal.MemberState:
		add("queue", s.Queue)
		add("member", s.Member.Endpoint)
		if s.Kind == signal.MemberPaused {
			add("paused", fmt.Sprint(s.Member.Paused))
		}
	case signal.RecordingStarted, signal.RecordingStopped:
		add("file", s.File)
	case signal.CallRecorded:
		add("disposition", s.Record.Disposition.String())
	case signal.ListenStarted, signal.ListenStopped:
		add("on", legName(s.Peer))
	case signal.MenuEntered:
		add("menu", s.Menu)
	case signal.ForwardingChanged, signal.QueueLoginChanged, signal.ExtensionCreated, signal.ExtensionDeleted:
		add("extension", s.Status.Extension)
		add("queue", s.Status.Queue)
		add("destination", s.Status.Destination)
		if s.Kind == signal.ForwardingChanged || s.Kind == signal.QueueLoginChanged {
			add("on", fmt.Sprint(s.Status.On))
		}
	case signal.Disconnected:
		if s.Err != nil {
			add("error", s.Err.Error())
		}
	}
	return strings.Join(parts, " ")
}

// eventView describes ev. The caller holds in.mu (for in.seq).
func (in *Inspector) eventView(ev callmodel.Event, seen time.Time) eventView {
	v := eventView{Seq: in.seq, Seen: seen, Time: ev.Time, Kind: ev.Kind.String(), Key: ev.Key(), ev: ev}
	if !ev.Kind.IsStatus() {
		v.CallID = ev.ID.Format(in.opts.Location)
	}
	var parts []string
	add := func(k, val string) {
		if val != "" {
			parts = append(parts, k+"="+val)
		}
	}
	add("user", ev.User)
	add("external", ev.External)
	add("did", ev.DID)
	add("direction", map[callmodel.Direction]string{callmodel.Inbound: "inbound", callmodel.Outbound: "outbound", callmodel.Internal: "internal", callmodel.Barge: "barge"}[ev.Direction])
	add("queue", ev.Queue)
	add("other", ev.Other)
	switch ev.Kind {
	case callmodel.Answered:
		add("transfer", map[callmodel.TransferType]string{callmodel.TransferBlind: "blind", callmodel.TransferAttended: "attended"}[ev.Transfer])
	case callmodel.Ended:
		add("finish", map[callmodel.Finish]string{callmodel.FinishOK: "ok", callmodel.FinishMissed: "missed"}[ev.Finish])
		if ev.Transferred {
			add("transferred", "true")
		}
		if ev.Talk > 0 {
			add("talk", ev.Talk.Round(time.Second).String())
		}
		add("reason", ev.Reason)
	default:
		add("reason", ev.Reason)
	}
	return v.withDetail(strings.Join(parts, " "))
}

func (v eventView) withDetail(d string) eventView { v.Detail = d; return v }

// note keeps what the call's list shows of it: who called whom, its id.
func (c *call) note(v eventView) {
	ev := v.ev
	if v.CallID != "" {
		c.CallID = v.CallID
	}
	if c.Title != "" || ev.Kind.IsStatus() {
		return
	}
	switch ev.Direction {
	case callmodel.Inbound:
		c.Title = fmt.Sprintf("%s → %s", ev.External, cmp.Or(ev.DID, ev.User))
	case callmodel.Outbound:
		c.Title = fmt.Sprintf("%s → %s", cmp.Or(ev.Origin, ev.User), ev.External)
	case callmodel.Internal:
		c.Title = fmt.Sprintf("%s → %s (internal)", ev.External, ev.User)
	case callmodel.Barge:
		c.Title = fmt.Sprintf("%s listens to %s", ev.User, ev.Other)
	}
}
