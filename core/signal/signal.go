// Package signal defines the low-level facts a PBX connector reports: legs
// appearing, ringing, being answered, bridged and hung up. Connectors only
// translate their PBX's wire events into signals; every call rule lives in the
// call model that consumes them.
package signal

import (
	"context"
	"time"
)

// State is the state of one call leg, as PBXs commonly report it.
type State uint8

// Leg states. The numbering follows Asterisk's ChannelState values so that a
// connector for Asterisk can convert without a table; others map onto them.
const (
	StateDown    State = 0
	StateRsrvd   State = 1
	StateOffHook State = 2
	StateDialing State = 3
	StateRing    State = 4 // the leg is calling in and waits for an answer
	StateRinging State = 5 // the leg's device is alerting
	StateUp      State = 6 // the leg is answered
	StateBusy    State = 7
)

func (s State) String() string {
	switch s {
	case StateDown:
		return "Down"
	case StateRsrvd:
		return "Rsrvd"
	case StateOffHook:
		return "OffHook"
	case StateDialing:
		return "Dialing"
	case StateRing:
		return "Ring"
	case StateRinging:
		return "Ringing"
	case StateUp:
		return "Up"
	case StateBusy:
		return "Busy"
	}
	return "Unknown"
}

// Leg is one call leg: an Asterisk channel, a FreeSWITCH channel, a 3CX
// participant. Fields a connector cannot know stay empty.
type Leg struct {
	ID            string // the PBX's id of the leg (Asterisk Uniqueid)
	ChainID       string // shared by every leg of one call (Asterisk Linkedid)
	Name          string // the PBX's name of the leg, e.g. "PJSIP/101-00000001"
	Endpoint      string // the device or trunk the leg belongs to, e.g. "101", "trunk"
	CallerNum     string
	CallerName    string
	ConnectedNum  string
	ConnectedName string
	Context       string // dialplan context the leg runs in
	Exten         string // number the leg is at in the dialplan (the DID on an inbound trunk leg)
	State         State
}

// Kind says what a Signal reports.
type Kind uint8

// Signal kinds.
const (
	// Connected: the connector (re)established its session with the PBX.
	// Legs seen before may have changed while it was away.
	Connected Kind = iota + 1
	// Disconnected: the session with the PBX was lost.
	Disconnected
	// LegCreated: a new leg appeared (Asterisk Newchannel).
	LegCreated
	// StateChanged: Leg.State changed (Asterisk Newstate).
	StateChanged
	// DialBegin: Leg started dialling Peer (Asterisk DialBegin).
	DialBegin
	// DialState: progress of Leg's dial towards Peer; DialStatus says which.
	DialState
	// DialEnd: Leg's dial to Peer ended with DialStatus (ANSWER, NOANSWER,
	// BUSY, CANCEL, CONGESTION, CHANUNAVAIL).
	DialEnd
	// BridgeEnter: Leg entered bridge BridgeID.
	BridgeEnter
	// BridgeLeave: Leg left bridge BridgeID.
	BridgeLeave
	// Hangup: Leg is gone; Cause is the Q.850 cause code.
	Hangup
	// UserEvent: a named event raised on the PBX by its dialplan or by a
	// management client (Asterisk UserEvent); Name and Data carry it.
	UserEvent
	// BlindTransfer: a blind transfer was attempted (Asterisk BlindTransfer);
	// Transfer says who, where to and with what result.
	BlindTransfer
	// AttendedTransfer: an attended transfer was attempted (Asterisk
	// AttendedTransfer); Transfer says who and how it completed.
	AttendedTransfer
	// QueueJoin: Leg, a caller, entered Queue (Asterisk QueueCallerJoin).
	QueueJoin
	// QueueLeave: Leg left Queue, answered or not (Asterisk QueueCallerLeave).
	QueueLeave
	// QueueAbandon: Leg hung up while waiting in Queue (Asterisk
	// QueueCallerAbandon).
	QueueAbandon
	// AgentCalled: Queue rings Member for the caller Leg; Peer is the
	// member's leg (Asterisk AgentCalled).
	AgentCalled
	// AgentRingNoAnswer: Member did not answer within the queue's timeout.
	AgentRingNoAnswer
	// AgentConnect: Member answered the caller Leg; Peer is the member's leg.
	AgentConnect
	// AgentComplete: the conversation of Member with Leg ended.
	AgentComplete
	// MemberAdded: Member was added to Queue (Asterisk QueueMemberAdded).
	MemberAdded
	// MemberRemoved: Member was removed from Queue (QueueMemberRemoved).
	MemberRemoved
	// MemberPaused: Member's pause in Queue changed; Member.Paused says to
	// what (Asterisk QueueMemberPause).
	MemberPaused
	// MemberStatus: Member's device state in Queue changed
	// (Asterisk QueueMemberStatus).
	MemberStatus
	// LocalBridge: the two halves of a local channel pair, Leg and Peer,
	// were linked (Asterisk LocalBridge).
	LocalBridge
	// RecordingStarted / RecordingStopped: a recording of Leg started or
	// stopped (Asterisk MixMonitorStart / MixMonitorStop); Data[DataFile]
	// names the file when the connector knows it.
	RecordingStarted
	RecordingStopped
	// CDR: a call detail record was written; Data holds its fields.
	CDR
	// SpyStarted / SpyStopped: Leg, a supervisor's leg, started or stopped
	// listening in on Peer (Asterisk ChanSpyStart / ChanSpyStop): a barge.
	SpyStarted
	SpyStopped
)

func (k Kind) String() string {
	switch k {
	case Connected:
		return "Connected"
	case Disconnected:
		return "Disconnected"
	case LegCreated:
		return "LegCreated"
	case StateChanged:
		return "StateChanged"
	case DialBegin:
		return "DialBegin"
	case DialState:
		return "DialState"
	case DialEnd:
		return "DialEnd"
	case BridgeEnter:
		return "BridgeEnter"
	case BridgeLeave:
		return "BridgeLeave"
	case Hangup:
		return "Hangup"
	case UserEvent:
		return "UserEvent"
	case BlindTransfer:
		return "BlindTransfer"
	case AttendedTransfer:
		return "AttendedTransfer"
	case QueueJoin:
		return "QueueJoin"
	case QueueLeave:
		return "QueueLeave"
	case QueueAbandon:
		return "QueueAbandon"
	case AgentCalled:
		return "AgentCalled"
	case AgentRingNoAnswer:
		return "AgentRingNoAnswer"
	case AgentConnect:
		return "AgentConnect"
	case AgentComplete:
		return "AgentComplete"
	case MemberAdded:
		return "MemberAdded"
	case MemberRemoved:
		return "MemberRemoved"
	case MemberPaused:
		return "MemberPaused"
	case MemberStatus:
		return "MemberStatus"
	case LocalBridge:
		return "LocalBridge"
	case RecordingStarted:
		return "RecordingStarted"
	case RecordingStopped:
		return "RecordingStopped"
	case CDR:
		return "CDR"
	case SpyStarted:
		return "SpyStarted"
	case SpyStopped:
		return "SpyStopped"
	}
	return "Unknown"
}

// Signal is one fact reported by a connector.
type Signal struct {
	Kind Kind
	// Time is when the PBX says the fact happened (Asterisk's Timestamp
	// header), or when the connector received it if the PBX gives no time.
	Time       time.Time
	Leg        Leg
	Peer       Leg    // DialBegin/DialState/DialEnd: the leg being dialled
	DialStatus string // DialState/DialEnd
	DialString string // DialBegin: what was dialled, e.g. "12125550199@trunk"
	BridgeID   string // BridgeEnter/BridgeLeave
	Cause      int    // Hangup: Q.850 cause code
	CauseText  string // Hangup
	// Name and Data: UserEvent's name and its other headers. Queue, agent,
	// recording and CDR signals also keep their other headers in Data
	// (e.g. HoldTime, RingTime, TalkTime, Reason, Position).
	Name string
	Data map[string]string
	// Queue: the queue a Queue*, Agent* or Member* signal is about.
	Queue string
	// Member: the queue member an Agent* or Member* signal is about.
	Member Member
	// Transfer: BlindTransfer / AttendedTransfer details.
	Transfer Transfer
	// Err says why the session was lost (Disconnected).
	Err error
}

// Member is a queue member (an agent) as the PBX reports it.
type Member struct {
	Interface  string // how the queue reaches the member, e.g. "PJSIP/101"
	Endpoint   string // the device part of Interface, e.g. "101"
	Name       string // e.g. "Alice 101"
	Membership string // "static" or "dynamic"
	Paused     bool
	Reason     string // why paused, when the PBX was told
	Status     int    // device state (Asterisk AST_DEVICE_* numbers)
}

// Transfer describes a transfer. Blind transfers fill Transferer,
// Transferee, Context and Exten; attended ones the rest as well.
type Transfer struct {
	// Result is the PBX's verdict: "Success", "Fail", "Invalid" or
	// "Not Permitted". Success means the parties were placed, not that
	// anyone answered.
	Result string
	// External: the phone did the transfer (e.g. SIP REFER), not the PBX's
	// own features (DTMF).
	External   bool
	Transferer Leg // blind: the transferring leg; attended: the leg in the first call
	Transferee Leg // the party being transferred
	// Attended only.
	SecondTransferer Leg    // the transferring party's leg in the second call
	Target           Leg    // the party the transferee is handed to
	DestType         string // Bridge, App, Link, Threeway or Fail
	DestBridgeID     string // Bridge, Threeway: the surviving bridge
	DestApp          string // App: the application now running
	LocalOne         Leg    // Link: the local channel pair linking the bridges
	LocalTwo         Leg
	// Blind only: where the transferee was sent.
	Context string
	Exten   string
}

// Succeeded says whether the PBX completed the transfer.
func (t Transfer) Succeeded() bool {
	return t.Result == "Success" && t.DestType != "Fail"
}

// Handler consumes signals in the order the PBX reported them. A connector
// calls HandleSignal for one signal at a time and treats the signal as
// handled only when it returns nil.
type Handler interface {
	HandleSignal(ctx context.Context, s Signal) error
}

// BatchHandler is a Handler that can take, in one call, signals a
// connector has already received and queued: each counts as handled once
// HandleSignals returns nil, so a handler may persist what they all
// produced in one write (group commit) without putting at risk anything a
// crash would not already lose.
type BatchHandler interface {
	Handler
	HandleSignals(ctx context.Context, ss []Signal) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, s Signal) error

// HandleSignal calls f(ctx, s).
func (f HandlerFunc) HandleSignal(ctx context.Context, s Signal) error { return f(ctx, s) }

// DataFile is the Data key of a RecordingStarted or RecordingStopped signal
// naming the recording's file: the path the PBX writes.
const DataFile = "File"
