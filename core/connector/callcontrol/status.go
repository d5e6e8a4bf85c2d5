package callcontrol

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// XAPI paths callhook reads ([xapi] paths /Users, /Queues and the
// function ReportCallLogData/Pbx.GetCallLogData). 3CX has no event for a
// change of configuration, so the connector reads it when a DN appears or
// goes on the event stream, before each barrier, and every poll interval,
// and reports the differences.
const (
	pathUsers  = "/xapi/v1/Users?$select=Number,DisplayName,FirstName,LastName,QueueStatus,CurrentProfileName&$expand=ForwardingProfiles"
	pathQueues = "/xapi/v1/Queues?$select=Number&$expand=Agents($select=Number,Name)"
)

// callLogPath asks for one call's rows of the call log over the last day
// (the function's period and filter arguments are required; the empty and
// zero ones select everything).
func callLogPath(call int, now time.Time) string {
	from := now.Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	to := now.Add(time.Hour).UTC().Format(time.RFC3339)
	fn := fmt.Sprintf("Pbx.GetCallLogData(periodFrom=%s,periodTo=%s,sourceType=0,sourceFilter='',destinationType=0,"+
		"destinationFilter='',callsType=0,callTimeFilterType=0,callTimeFilterFrom='0:00:0',callTimeFilterTo='0:00:0',hidePcalls=true)", from, to)
	return "/xapi/v1/ReportCallLogData/" + url.PathEscape(fn) + "?$filter=" + url.QueryEscape("CallId eq "+strconv.Itoa(call))
}

// config is what the connector knows of the PBX's configuration.
type config struct {
	users  map[string]userState
	queues map[string]map[string]string // queue → agent number → name
}

type userState struct {
	name      string
	loggedIn  bool
	forwardTo string // "" when calls are not forwarded
}

// readConfig reads users and queues.
func readConfig(ctx context.Context, c *client) (config, error) {
	var users odataCollection[xapiUser]
	if err := c.get(ctx, pathUsers, &users); err != nil {
		return config{}, fmt.Errorf("read users: %w", err)
	}
	var queues odataCollection[xapiQueue]
	if err := c.get(ctx, pathQueues, &queues); err != nil {
		return config{}, fmt.Errorf("read queues: %w", err)
	}
	cfg := config{users: map[string]userState{}, queues: map[string]map[string]string{}}
	for _, u := range users.Value {
		if u.Number == "" {
			continue
		}
		name := u.DisplayName
		if name == "" {
			name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		}
		cfg.users[u.Number] = userState{name: name, loggedIn: strings.EqualFold(u.QueueStatus, "LoggedIn"), forwardTo: forwardingOf(u)}
	}
	for _, q := range queues.Value {
		agents := map[string]string{}
		for _, a := range q.Agents {
			agents[a.Number] = a.Name
		}
		cfg.queues[q.Number] = agents
	}
	return cfg, nil
}

// forwardingOf says where a user's calls are forwarded: 3CX forwards by
// status profile, so a user whose current profile is not "Available" and
// whose profile's AwayRoute sends calls to a number or a DN (not to
// voicemail) has forwarding on, to that destination ([xapi]
// Pbx.ForwardingProfile.AwayRoute, Pbx.Destination To/Number/External).
func forwardingOf(u xapiUser) string {
	if u.CurrentProfileName == "" || strings.EqualFold(u.CurrentProfileName, "Available") {
		return ""
	}
	for _, fp := range u.ForwardingProfiles {
		if !strings.EqualFold(fp.Name, u.CurrentProfileName) || fp.AwayRoute == nil {
			continue
		}
		for _, d := range []*xapiDestination{fp.AwayRoute.External, fp.AwayRoute.Internal} {
			if d == nil {
				continue
			}
			switch strings.ToLower(d.To) {
			case "", "none", "voicemail", "voicemailofdestination":
				continue
			case "external":
				if d.External != "" {
					return d.External
				}
			}
			if d.Number != "" {
				return d.Number
			}
			if d.External != "" {
				return d.External
			}
		}
	}
	return ""
}

// diff reports what changed from old to new, in a fixed order (users by
// number, then queues): extensions created, forwarding and queue log-in
// changes, agents added and removed, extensions deleted.
func diff(now time.Time, old, cur config) []signal.Signal {
	var out []signal.Signal
	nums := func(m map[string]userState) []string {
		var n []string
		for k := range m {
			n = append(n, k)
		}
		slices.Sort(n)
		return n
	}
	for _, n := range nums(cur.users) {
		u := cur.users[n]
		was, existed := old.users[n]
		if !existed {
			out = append(out, signal.Signal{Kind: signal.ExtensionCreated, Time: now, Status: signal.Status{Extension: n, Name: u.name}})
			continue
		}
		if u.forwardTo != was.forwardTo {
			out = append(out, signal.Signal{Kind: signal.ForwardingChanged, Time: now,
				Status: signal.Status{Extension: n, On: u.forwardTo != "", Destination: u.forwardTo}})
		}
		if u.loggedIn != was.loggedIn {
			out = append(out, signal.Signal{Kind: signal.QueueLoginChanged, Time: now, Status: signal.Status{Extension: n, On: u.loggedIn}})
		}
	}
	var qs []string
	for q := range cur.queues {
		qs = append(qs, q)
	}
	for q := range old.queues {
		if _, ok := cur.queues[q]; !ok {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	for _, q := range qs {
		was, now2 := old.queues[q], cur.queues[q]
		var added, removed []string
		for a := range now2 {
			if _, ok := was[a]; !ok {
				added = append(added, a)
			}
		}
		for a := range was {
			if _, ok := now2[a]; !ok {
				removed = append(removed, a)
			}
		}
		slices.Sort(added)
		slices.Sort(removed)
		for _, a := range added {
			out = append(out, signal.Signal{Kind: signal.MemberAdded, Time: now, Queue: q, Member: signal.Member{Endpoint: a, Name: now2[a]}})
		}
		for _, a := range removed {
			out = append(out, signal.Signal{Kind: signal.MemberRemoved, Time: now, Queue: q, Member: signal.Member{Endpoint: a, Name: was[a]}})
		}
	}
	for _, n := range nums(old.users) {
		if _, ok := cur.users[n]; !ok {
			out = append(out, signal.Signal{Kind: signal.ExtensionDeleted, Time: now, Status: signal.Status{Extension: n}})
		}
	}
	return out
}

// readRecords reads the call log of a call that ended, for the call
// record signals: one per row, about the call's first leg. 3CX writes the log as
// the call ends; a row not there yet is asked for again a few times.
func readRecords(ctx context.Context, c *client, call *tcall, now time.Time) ([]signal.Signal, error) {
	var rows odataCollection[xapiCallLog]
	wait := 20 * time.Millisecond
	for try := 0; ; try++ {
		if err := c.get(ctx, callLogPath(call.id, now), &rows); err != nil {
			return nil, fmt.Errorf("read call log of call %d: %w", call.id, err)
		}
		if len(rows.Value) > 0 || try == 4 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
	var out []signal.Signal
	for _, r := range rows.Value {
		if r.CallID != call.id || call.first == nil {
			continue
		}
		rec := signal.Record{Disposition: signal.DispositionNoAnswer, RecordingFile: r.RecordingURL}
		switch {
		case r.Answered:
			rec.Disposition = signal.DispositionAnswered
		case strings.Contains(strings.ToLower(r.Reason), "busy"):
			rec.Disposition = signal.DispositionBusy
		}
		out = append(out, signal.Signal{Kind: signal.CallRecorded, Time: now, Leg: signal.Leg{ID: call.first.leg.ID,
			Endpoint: call.first.leg.Endpoint}, Record: rec})
	}
	return out, nil
}

// logAnswer is who answered a call, as the call log says: the DN, and
// the number it stands for (an external line's is the outside number the
// call reached, which no participant may have shown).
type logAnswer struct {
	DN, Number string
}

// answeredBy is who answered a call, as the call log says; zero when the
// log says nobody did, or has no row for it.
func answeredBy(ctx context.Context, c *client, call int, now time.Time) (logAnswer, error) {
	var rows odataCollection[xapiCallLog]
	if err := c.get(ctx, callLogPath(call, now), &rows); err != nil {
		return logAnswer{}, fmt.Errorf("read call log of call %d: %w", call, err)
	}
	for _, r := range rows.Value {
		if r.CallID == call && r.Answered && r.DestinationDn != "" {
			return logAnswer{DN: r.DestinationDn, Number: r.DestinationCallerID}, nil
		}
	}
	return logAnswer{}, nil
}
