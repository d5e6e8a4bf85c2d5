package callcontrol

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/callhook/callhook/pbxsim/pbx"
)

// xapiState is the configuration 3CX's XAPI (/xapi/v1, OData) serves:
// users with their queue status and forwarding profiles, and queues with
// their agents. The server's lock guards it.
type xapiState struct {
	nextID int
	users  []*User
	queues []*Queue
}

// Profile names of a 3CX v20 user ([xapi] Pbx.ForwardingProfile Name;
// the five of Pbx.ProfileType are Available, Away, OutOfOffice,
// Available2, OutOfOffice2). The simulator switches forwarding on by
// making "Away" current with its AwayRoute sending every call to the
// destination, and off by making "Available" current again.
const (
	profileAvailable = "Available"
	profileAway      = "Away"
)

func newXAPI(topo pbx.Config) *xapiState {
	x := &xapiState{}
	for _, e := range topo.Extensions {
		x.createUser(e.Number, e.Name)
	}
	for _, q := range topo.Queues {
		x.nextID++
		qq := &Queue{ID: x.nextID, Number: q.Number, Name: "Queue " + q.Number, Agents: []QueueAgent{}}
		for _, m := range q.Members {
			x.nextID++
			qq.Agents = append(qq.Agents, QueueAgent{ID: x.nextID, Number: m.Ext, Name: m.Name})
		}
		x.queues = append(x.queues, qq)
	}
	return x
}

func (x *xapiState) user(number string) *User {
	for _, u := range x.users {
		if u.Number == number {
			return u
		}
	}
	return nil
}

func (x *xapiState) createUser(number, name string) {
	if x.user(number) != nil {
		return
	}
	x.nextID++
	first, last, _ := strings.Cut(name, " ")
	u := &User{ID: x.nextID, Number: number, FirstName: first, LastName: last, DisplayName: name,
		QueueStatus: "LoggedIn", CurrentProfileName: profileAvailable}
	for i, n := range []string{profileAvailable, profileAway, "Out of office", "Custom 1", "Custom 2"} {
		fp := ForwardingProfile{ID: u.ID*10 + i, Name: n}
		if n != profileAvailable {
			fp.AwayRoute = &AwayRouting{External: &Destination{To: "VoiceMail"}, Internal: &Destination{To: "VoiceMail"}}
		}
		u.ForwardingProfiles = append(u.ForwardingProfiles, fp)
	}
	x.users = append(x.users, u)
}

func (x *xapiState) deleteUser(number string) {
	x.users = slices.DeleteFunc(x.users, func(u *User) bool { return u.Number == number })
}

func (x *xapiState) forwarding(number string, on bool, dest string) {
	u := x.user(number)
	if u == nil {
		return
	}
	if !on {
		u.CurrentProfileName = profileAvailable
		return
	}
	d := &Destination{To: "External", External: dest}
	if _, err := strconv.Atoi(dest); err == nil && len(dest) <= 6 {
		d = &Destination{To: "Extension", Number: dest}
	}
	for i := range u.ForwardingProfiles {
		if u.ForwardingProfiles[i].Name == profileAway {
			u.ForwardingProfiles[i].AwayRoute = &AwayRouting{AllHoursExternal: true, AllHoursInternal: true, External: d, Internal: d}
		}
	}
	u.CurrentProfileName = profileAway
}

func (x *xapiState) queueStatus(number string, in bool) {
	if u := x.user(number); u != nil {
		u.QueueStatus = "LoggedOut"
		if in {
			u.QueueStatus = "LoggedIn"
		}
	}
}

func (x *xapiState) member(queue, ext, name string, add bool) {
	for _, q := range x.queues {
		if q.Number != queue {
			continue
		}
		i := slices.IndexFunc(q.Agents, func(a QueueAgent) bool { return a.Number == ext })
		switch {
		case add && i < 0:
			x.nextID++
			q.Agents = append(q.Agents, QueueAgent{ID: x.nextID, Number: ext, Name: name})
		case !add && i >= 0:
			q.Agents = slices.Delete(q.Agents, i, i+1)
		}
	}
}

// XAPI handlers. The simulator answers the requests callhook makes and
// ignores $select and $expand (every property is served).

func (s *Server) xapiUsers(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := collection[User]{Context: s.base() + "/xapi/v1/$metadata#Users", Value: []User{}}
	for _, u := range s.x.users {
		cp := *u
		cp.ForwardingProfiles = append([]ForwardingProfile(nil), u.ForwardingProfiles...)
		out.Value = append(out.Value, cp)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) xapiQueues(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := collection[Queue]{Context: s.base() + "/xapi/v1/$metadata#Queues", Value: []Queue{}}
	for _, q := range s.x.queues {
		cp := *q
		cp.Agents = append([]QueueAgent{}, q.Agents...)
		out.Value = append(out.Value, cp)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// callIDFilter reads the one OData filter the simulator understands on the
// call log: "CallId eq N".
var callIDFilter = regexp.MustCompile(`^\s*CallId\s+eq\s+(\d+)\s*$`)

// xapiCallLog serves ReportCallLogData/Pbx.GetCallLogData(...): the
// function's period and filters are accepted and not applied; $filter
// CallId eq N selects one call's rows.
func (s *Server) xapiCallLog(w http.ResponseWriter, r *http.Request) {
	want := -1
	if f := r.URL.Query().Get("$filter"); f != "" {
		m := callIDFilter.FindStringSubmatch(f)
		if m == nil {
			writeJSON(w, http.StatusBadRequest, odataError("The simulator filters the call log by CallId only: "+f))
			return
		}
		want, _ = strconv.Atoi(m[1])
	}
	s.mu.Lock()
	out := collection[CallLogData]{Context: s.base() + "/xapi/v1/$metadata#Collection(Pbx.CallLogData)", Value: []CallLogData{}}
	for _, row := range s.w.log {
		if want < 0 || row.CallID == want {
			out.Value = append(out.Value, row)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// odataError is an OData error body (Microsoft.OData's {"error":{...}}).
func odataError(msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": "", "message": msg}}
}
