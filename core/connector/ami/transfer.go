package ami

import (
	"errors"
	"strconv"
	"strings"

	"github.com/callhook/callhook/core/signal"
)

// blindTransferSignal translates BlindTransfer. Leg is the transferee, the
// party whose call goes on; the transferer block is Transfer.Transferer.
func blindTransferSignal(m Message) (signal.Signal, error) {
	t := signal.Transfer{
		Result:     m.Get("Result"),
		External:   yes(m.Get("IsExternal")),
		Transferer: legOf(m, "Transferer"),
		Transferee: legOf(m, "Transferee"),
		Context:    m.Get("Context"),
		Exten:      m.Get("Extension"),
	}
	if t.Transferer.ID == "" && t.Transferee.ID == "" {
		return signal.Signal{}, errors.New("no TransfererUniqueid or TransfereeUniqueid")
	}
	return signal.Signal{Kind: signal.BlindTransfer, Leg: t.Transferee, BridgeID: m.Get("BridgeUniqueid"), Transfer: t}, nil
}

// attendedTransferSignal translates AttendedTransfer. Asterisk names the two
// transferer legs by age (Orig, Second), not by role; TransferTarget, when
// present, is the party the transferee is handed to.
func attendedTransferSignal(m Message) (signal.Signal, error) {
	t := signal.Transfer{
		Result:           m.Get("Result"),
		External:         yes(m.Get("IsExternal")),
		Transferer:       legOf(m, "OrigTransferer"),
		SecondTransferer: legOf(m, "SecondTransferer"),
		Transferee:       legOf(m, "Transferee"),
		Target:           legOf(m, "TransferTarget"),
		DestType:         m.Get("DestType"),
		DestBridgeID:     m.Get("DestBridgeUniqueid"),
		DestApp:          m.Get("DestApp"),
		LocalOne:         legOf(m, "LocalOne"),
		LocalTwo:         legOf(m, "LocalTwo"),
	}
	if t.Transferer.ID == "" && t.SecondTransferer.ID == "" {
		return signal.Signal{}, errors.New("no OrigTransfererUniqueid or SecondTransfererUniqueid")
	}
	return signal.Signal{Kind: signal.AttendedTransfer, Leg: t.Transferee, BridgeID: m.Get("OrigBridgeUniqueid"), Transfer: t}, nil
}

// callerSignal translates QueueCallerJoin/Leave/Abandon: the channel block is
// the caller.
func callerSignal(kind signal.Kind) translator {
	return func(m Message) (signal.Signal, error) {
		s := signal.Signal{Kind: kind, Leg: legOf(m, ""), Queue: m.Get("Queue"),
			Data: extra(m, "Position", "Count", "OriginalPosition", "HoldTime")}
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
			Member: signal.Member{Interface: m.Get("Interface"), Endpoint: endpointOf(m.Get("Interface")), Name: m.Get("MemberName")},
			Data:   extra(m, "HoldTime", "RingTime", "TalkTime", "Reason")}
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
		mem := signal.Member{
			Interface:  m.Get("Interface"),
			Name:       m.Get("MemberName"),
			Membership: m.Get("Membership"),
			Paused:     m.Get("Paused") == "1",
			Reason:     m.Get("PausedReason"),
		}
		if mem.Interface == "" {
			// Older Asterisks named it Location.
			mem.Interface = m.Get("Location")
		}
		mem.Endpoint = endpointOf(mem.Interface)
		mem.Status, _ = strconv.Atoi(strings.TrimSpace(m.Get("Status")))
		s := signal.Signal{Kind: kind, Queue: m.Get("Queue"), Member: mem,
			Data: extra(m, "StateInterface", "Penalty", "CallsTaken", "LastCall", "LastPause", "LoginTime", "InCall", "Ringinuse", "Wrapuptime")}
		if s.Queue == "" || mem.Interface == "" {
			return signal.Signal{}, errors.New("no Queue or Interface")
		}
		return s, nil
	}
}

// localBridgeSignal translates LocalBridge: the LocalOne half is Leg, the
// LocalTwo half Peer.
func localBridgeSignal(m Message) (signal.Signal, error) {
	s := signal.Signal{Kind: signal.LocalBridge, Leg: legOf(m, "LocalOne"), Peer: legOf(m, "LocalTwo"),
		Data: extra(m, "Context", "Exten", "LocalOptimization")}
	if s.Leg.ID == "" || s.Peer.ID == "" {
		return signal.Signal{}, errors.New("no LocalOneUniqueid or LocalTwoUniqueid")
	}
	return s, nil
}

// cdrSignal translates Cdr. Its fields are the record's, not a channel
// block: Channel and UniqueID name the record's leg.
func cdrSignal(m Message) (signal.Signal, error) {
	data := make(map[string]string, len(m))
	for _, f := range m {
		switch strings.ToLower(f.Key) {
		case "event", "privilege", "timestamp":
			continue
		}
		if _, dup := data[f.Key]; !dup {
			data[f.Key] = f.Value
		}
	}
	name := m.Get("Channel")
	leg := signal.Leg{ID: m.Get("UniqueID"), Name: name, Endpoint: endpointOf(name)}
	return signal.Signal{Kind: signal.CDR, Leg: leg, Data: data}, nil
}

// extra copies the named headers that are present.
func extra(m Message, keys ...string) map[string]string {
	var d map[string]string
	for _, k := range keys {
		if v, ok := m.Lookup(k); ok {
			if d == nil {
				d = make(map[string]string, len(keys))
			}
			d[k] = v
		}
	}
	return d
}

// yes reads Asterisk's Yes/No flags.
func yes(v string) bool {
	return strings.EqualFold(strings.TrimSpace(v), "yes")
}
