package callmodel

import (
	"fmt"
	"time"
)

// Kind says which moment of a call an Event reports.
type Kind uint8

// Event kinds. They are vendor-neutral: each dialect names them its own way
// (3CX: ringing, dialing, hangupincoming/hangupoutgoing, incoming/outgoing).
const (
	// Ringing: a device of User is alerting for an inbound call.
	Ringing Kind = iota + 1
	// Dialing: User started an outbound call to External.
	Dialing
	// Answered: a conversation between External and User started.
	Answered
	// Ended: the call, or this link of it, ended (Finish says how).
	Ended
	// StoppedRinging: a device of User stopped ringing while the call goes
	// on elsewhere. The 3CX document notes its module has no such event;
	// the model reports it only when asked (WithStoppedRinging).
	StoppedRinging

	// Status events: about an extension or a queue member, not a call.
	// They carry no call id.

	// ForwardingChanged: User's call forwarding was switched (Forwarding,
	// Destination).
	ForwardingChanged
	// QueueLoginChanged: User logged in to or out of all queues (LoggedIn).
	QueueLoginChanged
	// QueueMemberLoginChanged: User logged in to or out of Queue (LoggedIn).
	QueueMemberLoginChanged
	// ExtensionCreated / ExtensionDeleted: extension User appeared or was
	// removed.
	ExtensionCreated
	ExtensionDeleted
	// AgentAdded / AgentRemoved: User was made a member of Queue, or
	// stopped being one.
	AgentAdded
	AgentRemoved
)

// IsStatus says whether k is a status event rather than a call event.
func (k Kind) IsStatus() bool { return k >= ForwardingChanged && k <= AgentRemoved }

func (k Kind) String() string {
	switch k {
	case Ringing:
		return "ringing"
	case Dialing:
		return "dialing"
	case Answered:
		return "answered"
	case Ended:
		return "ended"
	case StoppedRinging:
		return "stopped-ringing"
	case ForwardingChanged:
		return "forwarding-changed"
	case QueueLoginChanged:
		return "queue-login-changed"
	case QueueMemberLoginChanged:
		return "queue-member-login-changed"
	case ExtensionCreated:
		return "extension-created"
	case ExtensionDeleted:
		return "extension-deleted"
	case AgentAdded:
		return "agent-added"
	case AgentRemoved:
		return "agent-removed"
	}
	return "unknown"
}

// Direction of a call as seen from the PBX.
type Direction uint8

// Directions.
const (
	Inbound Direction = iota + 1
	Outbound
	Internal
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case Internal:
		return "internal"
	}
	return "unknown"
}

// UserType says what the User of an event is.
type UserType uint8

// User types, as the 3CX document lists them (ext / queue / other).
const (
	UserExtension UserType = iota + 1
	UserQueue
	UserOther
)

// TransferType says how the current link of a call was reached.
type TransferType uint8

// Transfer types (3CX trtype NotDef / Blind / Accomp).
const (
	NotTransferred TransferType = iota + 1
	BlindTransfer
	AttendedTransfer
)

// Finish says how a call ended.
type Finish uint8

// Finish values (3CX finishtype Ok / Missed).
const (
	FinishOK Finish = iota + 1
	FinishMissed
)

// CallID identifies one link of a call chain the way the 3CX document
// defines it: all links of one transfer chain share Start and Number and
// differ in Link (0 before answer, 1 once answered, +1 per transfer).
type CallID struct {
	Start  time.Time // when the call reached the PBX
	Number int       // the call's number within the PBX session
	Link   int
}

// Chain is the part shared by every link of the call chain.
func (id CallID) Chain() string {
	return fmt.Sprintf("%d_%d", id.Start.Unix(), id.Number)
}

// Event is a vendor-neutral call event.
type Event struct {
	Kind Kind
	Time time.Time // when the PBX reported what caused the event
	ID   CallID
	// Seq numbers the events of one chain from 0 in the order they were
	// emitted; with ID.Chain it identifies the event stably, so a replay of
	// the same signals gives the same webhook ids.
	Seq       int
	Direction Direction
	// External is the party outside the PBX: the caller of an inbound call,
	// the number dialled on an outbound one.
	External     string
	ExternalName string
	DID          string // number the inbound call came in on
	DIDName      string // name of the DID rule; the DID itself when unnamed
	User         string // extension (or queue) the event is about
	UserName     string
	UserType     UserType
	Transfer     TransferType
	Finish       Finish // Ended only
	Transferred  bool   // Ended only: this link ended because it was transferred on
	Talk         time.Duration
	Cause        int // Ended only: Q.850 cause of the hangup that ended the link
	// Queue: the queue of a call that reached one (the user of a call
	// missed at queue level), or of a queue status event.
	Queue string
	// Callback: Ended only: the caller ordered a callback at queue level.
	Callback bool
	// LoggedIn: QueueLoginChanged, QueueMemberLoginChanged.
	LoggedIn bool
	// Forwarding and Destination: ForwardingChanged.
	Forwarding  bool
	Destination string
	// Reason: why a status changed, when the PBX said (e.g. a pause reason).
	Reason string
}
