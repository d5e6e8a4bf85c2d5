package callmodel

import (
	"fmt"
	"strconv"
	"time"

	"github.com/callhook/callhook/core/signal"
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
	// its dialect sends it only when a webhook asks (stoppedringing).
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

	// Call events added later; numbered after the status kinds so the
	// earlier values stay as they were.

	// Initiated: the call started: an inbound call reached the PBX, or an
	// extension started an outbound or internal call. It is the first
	// event of every call chain the model reports.
	Initiated
	// Record: the PBX stored the call's record after the chain ended;
	// Record holds what it says.
	Record
	// TransferCompleted: User's attended transfer was completed: the
	// transferee now talks to the party User consulted.
	TransferCompleted
	// TransferCancelled: User consulted another party and gave up: the
	// consultation ended without a transfer and the call goes on.
	TransferCancelled
)

// IsStatus says whether k is a status event rather than a call event.
func (k Kind) IsStatus() bool { return k >= ForwardingChanged && k <= AgentRemoved }

func (k Kind) String() string {
	if s, ok := k.flowString(); ok {
		return s
	}
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
	case Initiated:
		return "initiated"
	case Record:
		return "record"
	case TransferCompleted:
		return "transfer-completed"
	case TransferCancelled:
		return "transfer-cancelled"
	}
	return "unknown"
}

// Direction of a call as seen from the PBX.
type Direction uint8

// Directions.
const (
	Inbound Direction = iota + 1
	Outbound
	// Internal: between two extensions of the PBX.
	Internal
	// Barge: a supervisor's device listening in on (or speaking into)
	// another call.
	Barge
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case Internal:
		return "internal"
	case Barge:
		return "barge"
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
	TransferBlind
	TransferAttended
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
	var b [48]byte
	return string(id.appendChain(b[:0]))
}

// SameChain says whether id and other have the same Chain, without
// building either.
func (id CallID) SameChain(other CallID) bool {
	return id.Start.Unix() == other.Start.Unix() && id.Number == other.Number
}

// appendChain appends Chain to b: ids are built for every webhook.
func (id CallID) appendChain(b []byte) []byte {
	b = strconv.AppendInt(b, id.Start.Unix(), 10)
	b = append(b, '_')
	return strconv.AppendInt(b, int64(id.Number), 10)
}

// Format writes the id as the 3CX document defines it, with the start in
// loc (the PBX's wall clock): <yyMMddHHmmss>_<call number>-<link>, e.g.
// 210701165649_698-2. Recording files are named after it too.
func (id CallID) Format(loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	var b [48]byte
	out := id.Start.In(loc).AppendFormat(b[:0], "060102150405")
	out = append(out, '_')
	out = strconv.AppendInt(out, int64(id.Number), 10)
	out = append(out, '-')
	return string(strconv.AppendInt(out, int64(id.Link), 10))
}

// Event is a vendor-neutral call event.
type Event struct {
	Kind Kind
	Time time.Time // when the PBX reported what caused the event
	ID   CallID
	// PBXCallID is the PBX's own id of the call chain: the call id its
	// first leg had (signal.Leg.Call). It stays the same across transfers.
	PBXCallID string
	// N counts the events of this kind on this link of the chain before
	// it (for status events: the status events before it). With the
	// chain, the kind and the link it identifies the event (Key).
	N         int
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
	// Reason: why a status changed, when the PBX said (e.g. a pause
	// reason); on Ended, why the call ended, as a Q.850 cause name
	// (NORMAL_CLEARING, NO_ANSWER, USER_BUSY, ORIGINATOR_CANCEL, ...).
	Reason string
	// Paused: QueueMemberLoginChanged reports a queue member's pause
	// state, not a login.
	Paused bool
	// Other is the other extension of an internal call (the called one;
	// for the callee's events the caller), the party an attended transfer
	// consulted, and on a barge the extension whose call is listened in
	// on.
	Other string
	// Record: Record only.
	Record *CallRecord
	// Listened: Ended only: how long the caller spent
	// in IVR menus, which answer the call (not part of Talk).
	Listened time.Duration
	// EndedBy: Ended only: who ended the call.
	EndedBy Party
	// HangupCause: Ended only: the PBX's own name of the cause of the
	// hangup that ended the link (signal.Teardown.Cause), when the PBX
	// names causes; "" otherwise.
	HangupCause string
	// HangupDisposition: Ended only: how the caller's leg ended, in the
	// PBX's words (signal.Teardown.Disposition), when the PBX says: the
	// words of the hangup that ended the link, as the caller's leg saw it
	// (a called leg's "recv_bye", its party hanging up, is the caller's
	// "send_bye"); "" otherwise.
	HangupDisposition string
	// Recorded: a recording of the call has started by the time of the
	// event (the PBX announced it).
	Recorded bool
	// Origin is the extension that placed an outbound call; it stays the
	// same when the call is transferred on.
	Origin string
	// History is the call's way through the PBX, on the events that end
	// the call (Ended that is no transfer, Missed).
	History *History
	// Originated: the call was started through the engine's autodial
	// API, and this is what the API was told (a pipeline stage attaches
	// it; the model itself does not know).
	Originated *Origination

	// RecordingReady: the link's recordings, converted and stored.
	Files []RecordingFile
	// TranscriptReady: what speech analytics made of the recordings.
	Transcript, Summary string
	// Ending: RecordingReady, TranscriptReady: the event that ended the
	// link, for receivers that want the call-end fields with the
	// recording; nil when not asked for.
	Ending *Event
}

// RecordingFile is one stored file of a link's conversation (a mobile app
// that lost its connection starts a new file each time).
type RecordingFile struct {
	Name     string        // the stored file's name
	URL      string        // where a receiver downloads it
	Duration time.Duration // of the stored file
}

// Origination is what a client of the autodial API attached to a call it
// started.
type Origination struct {
	AdditionalData *string // nil when the request gave none
	CallbackURL    *string // nil when the request gave none
	// PBXNumber is the PBX number the call was placed for ("" for none),
	// which binds it to webhooks bound to that number.
	PBXNumber string
}

// Key identifies the event among everything the model reports, the same
// way on every replay of the same signals: the chain, the kind, the link
// and N; a status event by its kind, user, time and N. Webhook ids are
// built from it, so they do not depend on which other events, or which
// other receivers, there are.
func (ev Event) Key() string {
	if ev.Kind.IsStatus() {
		return fmt.Sprintf("status-%s-%s-%d-%d", ev.Kind, ev.User, ev.Time.UnixNano(), ev.N)
	}
	var b [96]byte
	out := ev.ID.appendChain(b[:0])
	out = append(out, '-')
	out = append(out, ev.Kind.String()...)
	out = append(out, '-')
	out = strconv.AppendInt(out, int64(ev.ID.Link), 10)
	out = append(out, '-')
	return string(strconv.AppendInt(out, int64(ev.N), 10))
}

// OrderKey is what the event is ordered by among a receiver's webhooks:
// its call chain, or for a status event its extension.
func (ev Event) OrderKey() string {
	if ev.Kind.IsStatus() {
		return "status-" + ev.User
	}
	return ev.ID.Chain()
}

// CallRecord is what a call's record says, once the PBX stored it.
type CallRecord struct {
	Start, Answer, End time.Time // Answer is zero for calls nobody answered
	Duration           time.Duration
	Billable           time.Duration // from answer to end
	// Disposition is how the PBX's record says the call went (answered,
	// no answer, busy, failed).
	Disposition signal.Disposition
	// Recordings are the names of the call's recording files, as the
	// PBX announced them when recording started or named them in its
	// records; Recorded says a recording ran even when no name is known.
	Recordings []string
	Recorded   bool
}
