package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/callhook/callhook/pbxsim/pbx"
	"github.com/callhook/callhook/pbxsim/scenario"
)

// The parties `sim run --set` rewrites. A scenario names its outside
// parties by number (the trunk-side caller, the DID it dials, the number
// an extension dials out to); the receiver of a user usually cares about
// its own numbers (a Bulutfon webhook is bound to one pbx_number), so
// these are what a run may change. Extensions stay: they are the
// simulated PBX's phones.
var setKeys = []string{"caller", "name", "did", "callee"}

const setUsage = `caller=NUMBER  the outside number calling in (every call from outside)
  name=NAME      the caller's display name on those calls
  did=NUMBER     the number they dial (the PBX's DID: the simulator answers on it instead)
  callee=NUMBER  the outside number an extension dials (9 + NUMBER), originate steps included`

// dialPrefix is what an extension dials before an outside number.
const dialPrefix = "9"

// overrides are the parsed --set values.
type overrides map[string]string

// parseSet reads --set values: comma-separated KEY=VALUE pairs; a part
// without "=" continues the value before it ("name=Smith, John").
func parseSet(vals []string) (overrides, error) {
	o := overrides{}
	for _, v := range vals {
		last := ""
		for part := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(part, "=")
			k = strings.TrimSpace(k)
			if !ok || !slices.Contains(setKeys, k) {
				if last != "" && !ok {
					o[last] += "," + part
					continue
				}
				if !ok {
					return nil, fmt.Errorf("%w: --set %q: want KEY=VALUE (keys: %s)", errUsage, part, strings.Join(setKeys, ", "))
				}
				return nil, fmt.Errorf("%w: --set %s: unknown key (want %s)", errUsage, k, strings.Join(setKeys, ", "))
			}
			val = strings.TrimSpace(val)
			if val == "" {
				return nil, fmt.Errorf("%w: --set %s: empty value", errUsage, k)
			}
			o[k], last = val, k
		}
	}
	for _, k := range []string{"caller", "did", "callee"} {
		if v, ok := o[k]; ok && strings.Trim(v, "+0123456789") != "" {
			return nil, fmt.Errorf("%w: --set %s=%s: want a phone number (digits, optionally a leading +)", errUsage, k, v)
		}
	}
	return o, nil
}

// apply rewrites the scenarios' parties and, for did, the simulated PBX's
// numbering plan topo, so the PBX answers on the new number. A key no
// scenario has a party for is an error: the run would not do what was
// asked.
func (o overrides) apply(scs []*scenario.Scenario, topo *pbx.Config) error {
	if len(o) == 0 {
		return nil
	}
	exts := map[string]bool{}
	for _, e := range topo.Extensions {
		exts[e.Number] = true
	}
	used := map[string]bool{}
	didFrom := map[string]string{} // new DID -> the topology DID renamed to it
	for _, sc := range scs {
		caller, did := outsideCall(sc, exts)
		if v, ok := o["did"]; ok && did != "" {
			if err := renameDID(topo, did, v, didFrom, sc.Name); err != nil {
				return err
			}
			renameParty(sc, did, v)
			used["did"] = true
		}
		if v, ok := o["caller"]; ok && caller != "" {
			renameParty(sc, caller, v)
			caller = v
			used["caller"] = true
		}
		if v, ok := o["name"]; ok && caller != "" {
			for _, st := range sc.Steps {
				if st.Call != nil && st.Call.From == caller {
					st.Call.Name = v
				}
			}
			used["name"] = true
		}
		if v, ok := o["callee"]; ok {
			if callee := dialledOut(sc, exts); callee != "" {
				renameParty(sc, callee, v)
				used["callee"] = true
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if !used[k] {
			what := "calls in from outside"
			if k == "callee" {
				what = "dials out to an outside number"
			}
			return fmt.Errorf("%w: --set %s: none of the scenarios %s", errUsage, k, what)
		}
	}
	return nil
}

// outsideCall is the caller and the number dialled of the scenario's first
// call from outside the PBX ("" when it has none).
func outsideCall(sc *scenario.Scenario, exts map[string]bool) (caller, did string) {
	for _, st := range sc.Steps {
		if c := st.Call; c != nil && !exts[c.From] {
			return c.From, c.To
		}
	}
	return "", ""
}

// dialledOut is the outside number of the scenario's first call an
// extension places through the trunk (9 + number), "" when none.
func dialledOut(sc *scenario.Scenario, exts map[string]bool) string {
	for _, st := range sc.Steps {
		to := ""
		switch {
		case st.Call != nil && exts[st.Call.From]:
			to = st.Call.To
		case st.Originate != nil:
			to = st.Originate.To
		}
		if n, ok := strings.CutPrefix(to, dialPrefix); ok && n != "" && !exts[n] {
			return n
		}
	}
	return ""
}

// renameParty replaces the number old by new wherever the scenario names
// a party: phones, call and step parties (9 + old as dialled), and the
// expectations.
func renameParty(sc *scenario.Scenario, old, new string) {
	num := func(s *string) {
		switch *s {
		case old:
			*s = new
		case dialPrefix + old:
			*s = dialPrefix + new
		}
	}
	if p, ok := sc.Phones[old]; ok {
		delete(sc.Phones, old)
		sc.Phones[new] = p
	}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		if c := st.Call; c != nil {
			num(&c.From)
			num(&c.To)
		}
		for _, l := range []*scenario.LegStep{st.Hold, st.Unhold, st.Reconnect, st.T38} {
			if l != nil {
				num(&l.By)
			}
		}
		if t := st.Transfer; t != nil {
			num(&t.By)
			num(&t.To)
		}
		if d := st.DTMF; d != nil {
			num(&d.By)
		}
		if a := st.Admin; a != nil {
			num(&a.Destination)
		}
		if o := st.Originate; o != nil {
			num(&o.To)
		}
	}
	for i := range sc.Expect {
		e := &sc.Expect[i]
		num(&e.External)
		num(&e.DID)
		num(&e.Destination)
	}
}

// renameDID gives the PBX's DID old the number new: the DID itself, or
// the queue, ring group, menu or fax line answering on it, and the menu keys that
// route to it. One simulated PBX serves every scenario of a run, so two
// scenarios dialling different DIDs cannot both take the same new one.
func renameDID(topo *pbx.Config, old, new string, from map[string]string, scName string) error {
	if prev, ok := from[new]; ok {
		if prev == old {
			return nil
		}
		return fmt.Errorf("%w: --set did=%s: %s dials %s, another scenario of the run %s; play them in separate runs",
			errUsage, new, scName, old, prev)
	}
	if taken := numberInUse(topo, new); taken != "" && new != old {
		return fmt.Errorf("%w: --set did=%s: the simulated PBX already uses %s for %s", errUsage, new, new, taken)
	}
	found := false
	for i := range topo.DIDs {
		if topo.DIDs[i].Number == old {
			topo.DIDs[i].Number, found = new, true
		}
	}
	for i := range topo.Queues {
		if topo.Queues[i].DID == old {
			topo.Queues[i].DID, found = new, true
		}
	}
	for i := range topo.RingGroups {
		if topo.RingGroups[i].DID == old {
			topo.RingGroups[i].DID, found = new, true
		}
	}
	for i := range topo.Faxes {
		if topo.Faxes[i].DID == old {
			topo.Faxes[i].DID, found = new, true
		}
	}
	for i := range topo.IVRs {
		m := &topo.IVRs[i]
		if m.DID == old {
			m.DID, found = new, true
		}
		choices := maps.Clone(m.Choices)
		for k, c := range choices {
			if c.Kind == "ext" && c.Target == old {
				c.Target = new
				choices[k] = c
			}
		}
		m.Choices = choices
	}
	if !found {
		return fmt.Errorf("%w: --set did=%s: %s dials %s, which is no DID of the simulated PBX", errUsage, new, scName, old)
	}
	from[new] = old
	return nil
}

// numberInUse says what of the PBX's numbering plan n already is, "" when
// nothing.
func numberInUse(topo *pbx.Config, n string) string {
	for _, e := range topo.Extensions {
		if e.Number == n {
			return "an extension"
		}
	}
	for _, d := range topo.DIDs {
		if d.Number == n {
			return "a DID"
		}
	}
	for _, q := range topo.Queues {
		if q.Number == n || q.DID == n {
			return "a queue"
		}
	}
	for _, g := range topo.RingGroups {
		if g.Number == n || g.DID == n {
			return "a ring group"
		}
	}
	for _, m := range topo.IVRs {
		if m.DID == n {
			return "a menu"
		}
	}
	for _, f := range topo.Faxes {
		if f.DID == n {
			return "a fax line"
		}
	}
	return ""
}
