// Package signal defines the facts a PBX connector reports, in words no
// PBX owns: legs appearing, alerting, being answered, joining a bridge,
// being transferred and going away; callers waiting in queues and agents
// rung for them; recordings, call records and the status of extensions.
// A connector translates its PBX's wire events into signals and absorbs
// every PBX-specific detail on the way (channel naming, helper channels,
// id formats, numbering conventions); every call rule lives in the call
// model that consumes them.
package signal

import (
	"context"
	"time"
)

// LegState is the state of one call leg.
type LegState uint8

// Leg states.
const (
	StateIdle     LegState = iota // not yet ringing or answered
	StateCalling                  // the leg calls in and waits for an answer
	StateAlerting                 // the leg's device is alerting
	StateUp                       // the leg is answered
	StateBusy                     // the leg's device is busy
)

func (s LegState) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateCalling:
		return "calling"
	case StateAlerting:
		return "alerting"
	case StateUp:
		return "up"
	case StateBusy:
		return "busy"
	}
	return "unknown"
}

// Leg is one call leg: a channel, a participant. Fields a connector
// cannot know stay empty.
type Leg struct {
	ID string // the PBX's id of the leg, unique while the PBX runs
	// Call is shared by every leg of one call; connectors name a call by
	// the ID of its first leg. It may change during the leg's life (a PBX
	// joining two calls renames one); the call model follows a leg by its
	// ID.
	Call string
	// CallSeq numbers the call within the PBX's session, as the PBX
	// counts calls when it does (else the connector counts them); it is
	// the "call number in this PBX session" of the 3CX call id.
	CallSeq int
	// Endpoint is the device or trunk the leg belongs to, e.g. "101",
	// "trunk"; empty for a loopback leg.
	Endpoint string
	// Loopback marks a leg the PBX uses to join two parts of itself (a
	// helper channel pair dialling on its behalf): plumbing, never a
	// party of the call.
	Loopback      bool
	CallerNum     string
	CallerName    string
	ConnectedNum  string
	ConnectedName string
	// Number is the number the leg was called on: the number dialled on
	// an inbound trunk leg (the DID), the group or menu number a leg
	// dials from; empty when the PBX does not say.
	Number string
	State  LegState
}

// Kind says what a Signal reports.
type Kind uint8

// Signal kinds. The fields each kind fills are listed with it.
const (
	// Connected: the connector (re)established its session with the PBX.
	// Legs seen before may have changed while it was away.
	Connected Kind = iota + 1
	// Disconnected: the session with the PBX was lost; Err says why.
	Disconnected

	// LegAppeared: Leg is new.
	LegAppeared
	// LegAlerting: Leg's device is alerting.
	LegAlerting
	// LegAnswered: Leg is answered.
	LegAnswered
	// Dialling: Leg started calling Peer; Number is what was dialled
	// (the number, not the PBX's dial string), when the PBX says.
	Dialling
	// DialEnded: Leg's attempt to reach Peer ended with Outcome.
	DialEnded
	// Joined: Leg joined Bridge, the mixing point of a conversation;
	// legs in one bridge hear each other.
	Joined
	// Left: Leg left Bridge.
	Left
	// LegGone: Leg hung up; Cause is the Q.850 cause (0 unknown).
	LegGone

	// Transferred: a transfer was attempted; Transfer says which kind,
	// who, to whom and whether the PBX completed it. Leg is the
	// transferee.
	Transferred

	// QueueJoined: Leg, a caller, entered Queue.
	QueueJoined
	// QueueLeft: Leg left Queue, answered or not.
	QueueLeft
	// QueueAbandoned: Leg hung up while waiting in Queue.
	QueueAbandoned
	// AgentRinging: Queue rings Member for the caller Leg; Peer is the
	// member's leg.
	AgentRinging
	// AgentNoAnswer: Member did not answer within the queue's timeout.
	AgentNoAnswer
	// AgentAnswered: Member answered the caller Leg; Peer is the
	// member's leg.
	AgentAnswered
	// AgentDone: the conversation of Member with Leg ended.
	AgentDone
	// MemberAdded / MemberRemoved: Member joined or left Queue.
	MemberAdded
	MemberRemoved
	// MemberPaused: Member's pause in Queue changed to Member.Paused.
	MemberPaused
	// MemberState: Member's device state in Queue changed.
	MemberState

	// RecordingStarted / RecordingStopped: the PBX started or stopped
	// recording Leg into File (the path it writes; empty when unknown).
	RecordingStarted
	RecordingStopped
	// CallRecorded: the PBX stored a record of the call of Leg (Record).
	CallRecorded

	// ListenStarted / ListenStopped: Leg, a supervisor's leg, started or
	// stopped listening in on Peer (a barge).
	ListenStarted
	ListenStopped

	// CallbackRequested: the caller of Leg's call ordered a callback
	// while waiting in a queue.
	CallbackRequested
	// MenuEntered: Leg reached the voice menu Menu.
	MenuEntered
	// FaxReceiving: the PBX receives a fax on Leg.
	FaxReceiving

	// Status changes of extensions; Status says whose and to what.

	// ForwardingChanged: Status.Extension's forwarding was switched
	// (Status.On) to Status.Destination.
	ForwardingChanged
	// QueueLoginChanged: Status.Extension logged in to (Status.On) or out
	// of Status.Queue, or of every queue when Status.Queue is empty.
	QueueLoginChanged
	// ExtensionCreated / ExtensionDeleted: Status.Extension (named
	// Status.Name) appeared or was removed.
	ExtensionCreated
	ExtensionDeleted

	// Sync: a barrier some client raised through the PBX: once it is
	// handled, every signal before it has been. Token names it.
	Sync
)

var kindNames = [...]string{
	Connected: "Connected", Disconnected: "Disconnected",
	LegAppeared: "LegAppeared", LegAlerting: "LegAlerting", LegAnswered: "LegAnswered",
	Dialling: "Dialling", DialEnded: "DialEnded", Joined: "Joined", Left: "Left", LegGone: "LegGone",
	Transferred: "Transferred",
	QueueJoined: "QueueJoined", QueueLeft: "QueueLeft", QueueAbandoned: "QueueAbandoned",
	AgentRinging: "AgentRinging", AgentNoAnswer: "AgentNoAnswer", AgentAnswered: "AgentAnswered", AgentDone: "AgentDone",
	MemberAdded: "MemberAdded", MemberRemoved: "MemberRemoved", MemberPaused: "MemberPaused", MemberState: "MemberState",
	RecordingStarted: "RecordingStarted", RecordingStopped: "RecordingStopped", CallRecorded: "CallRecorded",
	ListenStarted: "ListenStarted", ListenStopped: "ListenStopped",
	CallbackRequested: "CallbackRequested", MenuEntered: "MenuEntered", FaxReceiving: "FaxReceiving",
	ForwardingChanged: "ForwardingChanged", QueueLoginChanged: "QueueLoginChanged",
	ExtensionCreated: "ExtensionCreated", ExtensionDeleted: "ExtensionDeleted",
	Sync: "Sync",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Unknown"
}

// Outcome is how an attempt to reach a leg ended.
type Outcome uint8

// Dial outcomes.
const (
	OutcomeUnknown     Outcome = iota
	OutcomeAnswered            // the called leg answered
	OutcomeNoAnswer            // nobody answered in time
	OutcomeBusy                // the called side was busy or declined
	OutcomeCancelled           // the caller gave up, or another leg answered first
	OutcomeCongestion          // the network or PBX could not complete it
	OutcomeUnavailable         // the called device cannot be reached (unregistered)
)

func (o Outcome) String() string {
	switch o {
	case OutcomeAnswered:
		return "answered"
	case OutcomeNoAnswer:
		return "no-answer"
	case OutcomeBusy:
		return "busy"
	case OutcomeCancelled:
		return "cancelled"
	case OutcomeCongestion:
		return "congestion"
	case OutcomeUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// Signal is one fact reported by a connector.
type Signal struct {
	Kind Kind
	// Time is when the PBX says the fact happened, or when the connector
	// received it if the PBX gives no time.
	Time   time.Time
	Leg    Leg
	Peer   Leg    // Dialling, DialEnded, Agent*, Listen*: the other leg
	Number string // Dialling: the number dialled
	// Fanout (Dialling): how many devices the dial rings at once, when the
	// PBX says before they ring (a ring group); 0 when it does not.
	Fanout  int
	Outcome Outcome // DialEnded
	Bridge  string  // Joined, Left
	Cause   int     // LegGone: Q.850 cause code
	// Teardown: LegGone: the PBX's own account of the hangup, when it
	// gives one; empty otherwise.
	Teardown Teardown
	Queue    string // Queue*, Agent*, Member*: the queue
	Member   Member // Agent*, Member*: the queue member
	// Transfer: Transferred (nil otherwise: most signals are not, and
	// signals are copied and queued by the thousand).
	Transfer *Transfer
	// File: RecordingStarted / RecordingStopped.
	File string
	// Record: CallRecorded.
	Record Record
	// Menu: MenuEntered: the menu's number, or its name when it has none.
	Menu string
	// Status: ForwardingChanged, QueueLoginChanged, Extension*.
	Status Status
	// Token: Sync.
	Token string
	// Err says why the session was lost (Disconnected).
	Err error
}

// Teardown is a PBX's own account of a leg's hangup, beside its Q.850
// cause, for PBXs that give one.
type Teardown struct {
	// Cause is the PBX's name of the cause (e.g. "NORMAL_CLEARING",
	// "ORIGINATOR_CANCEL"), which may say more than the Q.850 number.
	Cause string
	// Disposition says how the leg's signalling ended, seen from the PBX:
	// "recv_bye" (the leg's party hung up), "send_bye" (the PBX hung it
	// up), "recv_cancel" / "send_cancel" (an unanswered leg given up by
	// its party / by the PBX), "recv_refuse" / "send_refuse" (the leg
	// refused by its party / by the PBX).
	Disposition string
}

// DeviceState is the state of a queue member's device.
type DeviceState uint8

// Device states.
const (
	DeviceUnknown DeviceState = iota
	DeviceIdle
	DeviceInUse
	DeviceBusy
	DeviceUnavailable
	DeviceRinging
	DeviceRingingInUse
	DeviceOnHold
)

// Member is a queue member (an agent).
type Member struct {
	Endpoint string // the member's device, e.g. "101"
	Name     string // e.g. "Alice 101"
	Dynamic  bool   // added at run time rather than configured
	Paused   bool
	Reason   string // why paused, when the PBX was told
	State    DeviceState
}

// TransferKind tells blind from attended transfers.
type TransferKind uint8

// Transfer kinds.
const (
	// Blind: the transferee is sent to a number without the transferring
	// party talking to it first.
	Blind TransferKind = iota + 1
	// Attended: the transferring party consulted Target and then handed
	// the transferee to it.
	Attended
)

// Transfer describes a transfer.
type Transfer struct {
	Kind TransferKind
	// Done: the PBX completed the transfer (placed the parties; not that
	// anyone answered). A refused or failed transfer changes nothing.
	Done bool
	// ByPhone: the phone transferred (e.g. SIP REFER), not the PBX's own
	// features on its behalf (key codes).
	ByPhone    bool
	Transferer Leg // blind: the transferring leg; attended: its leg in the first call
	Transferee Leg // the party being transferred
	// Attended only.
	SecondTransferer Leg // the transferring party's leg in the consultation
	Target           Leg // the party the transferee is handed to
	// Via are loopback legs through which the PBX joined the two calls.
	Via []Leg
	// Blind only: the number the transferee was sent to.
	Number string
}

// Disposition is how a call's stored record says it went.
type Disposition uint8

// Record dispositions.
const (
	DispositionUnknown Disposition = iota
	DispositionAnswered
	DispositionNoAnswer
	DispositionBusy
	DispositionFailed
)

func (d Disposition) String() string {
	switch d {
	case DispositionAnswered:
		return "answered"
	case DispositionNoAnswer:
		return "no-answer"
	case DispositionBusy:
		return "busy"
	case DispositionFailed:
		return "failed"
	}
	return "unknown"
}

// Record is what a call record the PBX stored says.
type Record struct {
	Disposition Disposition
	// RecordingFile names the call's recording, when the record does.
	RecordingFile string
}

// Status is an extension's status change.
type Status struct {
	Extension   string
	Name        string // ExtensionCreated: the extension's name
	Queue       string // QueueLoginChanged: the queue, "" for all
	On          bool   // forwarding on; logged in
	Destination string // ForwardingChanged: where calls go
	Reason      string // why, when the PBX said
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
