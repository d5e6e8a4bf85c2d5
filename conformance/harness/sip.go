package harness

import (
	"net"

	"github.com/callhook/callhook/core/inspect"
	"github.com/callhook/callhook/pbxsim/pbx"
)

// SIP gives the inspector the simulator's SIP ladders (Config.Ladder),
// each leg's far end named: an extension by its number, the trunk's far
// end "carrier", any other party (an outside caller's phone) "outside"
// and its port.
func (h *Harness) SIP() inspect.SIP { return simSIP{h} }

type simSIP struct{ h *Harness }

func (s simSIP) Legs(pbxCalls []string) []inspect.SIPLeg {
	p := s.h.Sim.PBX()
	want := map[string]bool{}
	for _, c := range pbxCalls {
		want[c] = true
	}
	names := map[string]string{}
	for _, ext := range pbx.DefaultTopology().Extensions {
		if ph, ok := s.h.Sim.Phone(ext.Number); ok {
			names[ph.Addr()] = ext.Number
		}
	}
	if c := s.h.Sim.Carrier(); c != nil {
		names[c.Addr()] = "carrier"
	}
	var out []inspect.SIPLeg
	for _, id := range p.LadderCallIDs() {
		if !want[p.LadderLinkedid(id)] {
			continue
		}
		leg := inspect.SIPLeg{CallID: id}
		for _, l := range p.Ladder(id) {
			if leg.Party == "" {
				leg.Party = names[l.Peer]
				if leg.Party == "" {
					_, port, _ := net.SplitHostPort(l.Peer)
					leg.Party = "outside :" + port
				}
			}
			leg.Lines = append(leg.Lines, inspect.SIPLine{Time: l.Time, Recv: l.Dir == "recv", Message: l.Message})
		}
		out = append(out, leg)
	}
	return out
}
