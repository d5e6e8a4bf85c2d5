package ami

import (
	"errors"
	"strconv"
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// blindTransferSignal translates BlindTransfer. Leg is the transferee, the
// party whose call goes on. Result "Success" is the only completion; Fail,
// Invalid and Not Permitted change nothing.
func blindTransferSignal(m Message) (signal.Signal, error) {
	t := signal.Transfer{
		Kind:       signal.Blind,
		Done:       strings.EqualFold(m.Get("Result"), "Success"),
		ByPhone:    yes(m.Get("IsExternal")),
		Transferer: legOf(m, "Transferer"),
		Transferee: legOf(m, "Transferee"),
		Number:     m.Get("Extension"),
	}
	if t.Transferer.ID == "" && t.Transferee.ID == "" {
		return signal.Signal{}, errors.New("no TransfererUniqueid or TransfereeUniqueid")
	}
	return signal.Signal{Kind: signal.Transferred, Leg: t.Transferee, Transfer: &t}, nil
}

// attendedTransferSignal translates AttendedTransfer. Asterisk names the two
// transferer legs by age (Orig, Second), not by role; TransferTarget, when
// present, is the party the transferee is handed to. DestType Link joins
// the two bridges through a Local channel pair (LocalOne, LocalTwo); Fail
// means nothing moved even when Result says Success.
func attendedTransferSignal(m Message) (signal.Signal, error) {
	t := signal.Transfer{
		Kind:             signal.Attended,
		Done:             strings.EqualFold(m.Get("Result"), "Success") && !strings.EqualFold(m.Get("DestType"), "Fail"),
		ByPhone:          yes(m.Get("IsExternal")),
		Transferer:       legOf(m, "OrigTransferer"),
		SecondTransferer: legOf(m, "SecondTransferer"),
		Transferee:       legOf(m, "Transferee"),
		Target:           legOf(m, "TransferTarget"),
	}
	for _, p := range []string{"LocalOne", "LocalTwo"} {
		if l := legOf(m, p); l.ID != "" {
			t.Via = append(t.Via, l)
		}
	}
	if t.Transferer.ID == "" && t.SecondTransferer.ID == "" {
		return signal.Signal{}, errors.New("no OrigTransfererUniqueid or SecondTransfererUniqueid")
	}
	return signal.Signal{Kind: signal.Transferred, Leg: t.Transferee, Transfer: &t}, nil
}

// callerSignal translates QueueCallerJoin/Leave/Abandon: the channel block is
// the caller.
func callerSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, ""), Queue: m.Get("Queue")}
		if s.Leg.ID == "" {
			return signal.Signal{}, errors.New("no Uniqueid")
		}
		if s.Queue == "" {
			return signal.Signal{}, errors.New("no Queue")
		}
		return s, nil
	}
}

// agentSignal translates AgentCalled/RingNoAnswer/Connect/Complete: the
// channel block is the caller, the Dest block the member's leg.
func agentSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, ""), Peer: legOf(m, "Dest"), Queue: m.Get("Queue"),
			Member: signal.Member{Endpoint: endpointOf(m.Get("Interface")), Name: m.Get("MemberName")}}
		if s.Queue == "" {
			return signal.Signal{}, errors.New("no Queue")
		}
		if s.Leg.ID == "" && s.Peer.ID == "" {
			return signal.Signal{}, errors.New("no Uniqueid or DestUniqueid")
		}
		return s, nil
	}
}

// memberSignal translates QueueMemberAdded/Removed/Pause/Status.
func memberSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		iface := m.Get("Interface")
		if iface == "" {
			// Older Asterisks named it Location.
			iface = m.Get("Location")
		}
		status, _ := strconv.Atoi(strings.TrimSpace(m.Get("Status")))
		mem := signal.Member{
			Endpoint: endpointOf(iface),
			Name:     m.Get("MemberName"),
			Dynamic:  strings.EqualFold(m.Get("Membership"), "dynamic"),
			Paused:   m.Get("Paused") == "1",
			Reason:   m.Get("PausedReason"),
			State:    deviceState(status),
		}
		s := signal.Signal{Kind: kind, Queue: m.Get("Queue"), Member: mem}
		if s.Queue == "" || iface == "" {
			return signal.Signal{}, errors.New("no Queue or Interface")
		}
		return s, nil
	}
}

// deviceState reads Asterisk's AST_DEVICE_* numbers (devicestate.h).
func deviceState(n int) signal.DeviceState {
	switch n {
	case 1:
		return signal.DeviceIdle
	case 2:
		return signal.DeviceInUse
	case 3:
		return signal.DeviceBusy
	case 4, 5: // invalid, unavailable
		return signal.DeviceUnavailable
	case 6:
		return signal.DeviceRinging
	case 7:
		return signal.DeviceRingingInUse
	case 8:
		return signal.DeviceOnHold
	}
	return signal.DeviceUnknown
}

// cdrSignal translates Cdr. Its fields are the record's, not a channel
// block: UniqueID names the record's leg (the chain's first channel for
// the call's main record).
func cdrSignal(m Message) (signal.Signal, error) {
	name := m.Get("Channel")
	leg := signal.Leg{ID: m.Get("UniqueID"), Endpoint: endpointOf(name), Loopback: strings.HasPrefix(name, "Local/")}
	if leg.ID == "" {
		return signal.Signal{}, errors.New("no UniqueID")
	}
	rec := signal.Record{Disposition: dispositionOf(m.Get("Disposition")), RecordingFile: strings.TrimSpace(m.Get("RecordingFile"))}
	return signal.Signal{Kind: signal.CallRecorded, Leg: leg, Record: rec}, nil
}

// dispositionOf reads a Cdr's Disposition.
func dispositionOf(v string) signal.Disposition {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "ANSWERED":
		return signal.DispositionAnswered
	case "NO ANSWER":
		return signal.DispositionNoAnswer
	case "BUSY":
		return signal.DispositionBusy
	case "FAILED", "CONGESTION":
		return signal.DispositionFailed
	}
	return signal.DispositionUnknown
}

// yes reads Asterisk's Yes/No flags.
func yes(v string) bool {
	return strings.EqualFold(strings.TrimSpace(v), "yes")
}
