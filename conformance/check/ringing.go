package check

import (
	"encoding/json"
	"net/url"
	"slices"

	"github.com/callhook/callhook/pbxsim/scenario"
)

// A real PBX rings the members of a ring group or a ring-all queue at
// once: app_dial and app_queue send every INVITE before any answer comes,
// and the phones' 180 Ringing (DialState RINGING) come back in whatever
// order the network and the phones give. A simulator's order is fixed;
// the scenario lists the members in theirs. So the ringing events of
// members rung at once are compared as a set: InRingingOrder puts each
// run of consecutive ringing requests into the order the scenario lists
// them, when the run rings exactly those members. Anything else (a
// missing, extra or foreign ringing) is left as it came for the check to
// report.

// RingingUser says whether r is a ringing event and for which extension.
type RingingUser func(r Request) (string, bool)

// ThreeCXRinging reads a 3cx ringing request.
func ThreeCXRinging(r Request) (string, bool) {
	q, err := url.ParseQuery(r.RawQuery)
	if err != nil || q.Get("event") != "ringing" {
		return "", false
	}
	return q.Get("user"), true
}

// VOIPEXRinging reads a VOIPEX Ringing request.
func VOIPEXRinging(r Request) (string, bool) {
	var m map[string]any
	if json.Unmarshal(r.Body, &m) != nil || m["EventName"] != "Ringing" {
		return "", false
	}
	line, _ := m["Line"].(string)
	return line, true
}

// InRingingOrder returns reqs with each run of consecutive ringing
// events reordered to the scenario's order of its ringing expectations.
func InRingingOrder(sc *scenario.Scenario, reqs []Request, ringing RingingUser) []Request {
	var want []string
	for _, e := range sc.Expect {
		if e.Event == "ringing" {
			want = append(want, e.User)
		}
	}
	out := slices.Clone(reqs)
	seen := 0 // ringing events before the run
	for i := 0; i < len(out); {
		if _, ok := ringing(out[i]); !ok {
			i++
			continue
		}
		j := i
		var users []string
		for j < len(out) {
			u, ok := ringing(out[j])
			if !ok {
				break
			}
			users = append(users, u)
			j++
		}
		if seen+len(users) <= len(want) {
			exp := want[seen : seen+len(users)]
			if sameSet(users, exp) {
				run := slices.Clone(out[i:j])
				used := make([]bool, len(run))
				for k, u := range exp {
					for m, r := range run {
						if got, _ := ringing(r); got == u && !used[m] {
							out[i+k], used[m] = r, true
							break
						}
					}
				}
			}
		}
		seen += len(users)
		i = j
	}
	return out
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
