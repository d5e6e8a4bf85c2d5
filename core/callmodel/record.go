package callmodel

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// keepFinished bounds how many ended calls wait for their record: a PBX
// that reports no records must not make the model grow.
const keepFinished = 1024

// finished holds ended calls until the PBX's call record for them arrives,
// by the id of each of their legs (a record names the leg it is about).
type finished struct {
	byLeg map[string]*call
	order []*call
}

func newFinished() *finished { return &finished{byLeg: map[string]*call{}} }

func (f *finished) add(c *call) {
	for _, e := range c.legs {
		f.byLeg[e.k] = c
	}
	f.order = append(f.order, c)
	if len(f.order) > keepFinished {
		f.drop(f.order[0])
	}
}

func (f *finished) drop(c *call) {
	for _, e := range c.legs {
		if f.byLeg[e.k] == c {
			delete(f.byLeg, e.k)
		}
	}
	for i, o := range f.order {
		if o == c {
			f.order = append(f.order[:i], f.order[i+1:]...)
			break
		}
	}
}

// chainDone runs once every leg of c is gone: a consultation reports its
// outcome on the call it was for; a reported call waits for its record.
func (m *Model) chainDone(c *call, t time.Time) []Event {
	if c.consultFor != nil {
		return m.consultationDone(c, t)
	}
	if c.emitted == 0 || !(c.reporting() || c.local()) {
		return nil
	}
	if c.endedAt.IsZero() {
		c.endedAt = t
	}
	if ev, ok := m.record(c); ok {
		return []Event{ev}
	}
	m.done.add(c)
	return nil
}

// recorded takes a call record of the PBX. A call is reported as recorded
// once its chain has ended and the record that describes it arrived: for
// an answered call, one that says answered (a queue may write one record
// per member rung); for any other call, the first.
func (m *Model) recorded(s signal.Signal) []Event {
	c := m.done.byLeg[s.Leg.ID]
	if c == nil {
		c = m.byLeg[s.Leg.ID]
	}
	if c == nil || c.recordSent {
		return nil
	}
	c.records = append(c.records, s.Record)
	if m.byLeg[s.Leg.ID] == c {
		// Still in progress: kept for when the chain ends.
		return nil
	}
	if ev, ok := m.record(c); ok {
		m.done.drop(c)
		return []Event{ev}
	}
	return nil
}

// record builds the Record event of an ended chain from the model's own
// times and the PBX's record, if a fitting record has arrived.
func (m *Model) record(c *call) (Event, bool) {
	pick := -1
	for i, d := range c.records {
		if c.firstAnswer.IsZero() || d.Disposition == signal.DispositionAnswered {
			pick = i
			break
		}
	}
	if pick < 0 {
		return Event{}, false
	}
	c.recordSent = true
	r := &CallRecord{Start: c.id.Start, Answer: c.firstAnswer, End: c.endedAt,
		Disposition: c.records[pick].Disposition, Recorded: c.recording}
	r.Duration = roundSeconds(r.End.Sub(r.Start))
	if !r.Answer.IsZero() {
		r.Billable = roundSeconds(r.End.Sub(r.Answer))
	}
	for _, d := range c.records {
		if f := d.RecordingFile; f != "" {
			r.Recordings = append(r.Recordings, f)
			r.Recorded = true
		}
	}
	// The files the PBX announced as it started recording, when its
	// records do not name them.
	for _, f := range c.recordings {
		if !slices.ContainsFunc(r.Recordings, func(g string) bool { return filepath.Base(g) == f }) {
			r.Recordings = append(r.Recordings, f)
		}
	}
	ev := Event{Kind: Record, Time: r.End, Queue: c.queue, Record: r}
	if c.user != nil {
		ev.User, ev.UserName = c.user.endpoint, c.user.name
	}
	if c.direction == Internal && c.origin != nil {
		// The record is about the call as the caller started it.
		ev.User, ev.UserName, ev.Other = c.origin.endpoint, c.origin.name, ev.User
	}
	return m.emit(c, ev), true
}

// causeNames are the Q.850 cause names of the causes PBXs commonly report,
// spelled as PBX documentation (and Bulutfon's hangup_cause) spell them.
var causeNames = map[int]string{
	1: "UNALLOCATED_NUMBER", 3: "NO_ROUTE_DESTINATION", 16: "NORMAL_CLEARING", 17: "USER_BUSY",
	18: "NO_USER_RESPONSE", 19: "NO_ANSWER", 20: "SUBSCRIBER_ABSENT", 21: "CALL_REJECTED",
	27: "DESTINATION_OUT_OF_ORDER", 28: "INVALID_NUMBER_FORMAT", 31: "NORMAL_UNSPECIFIED",
	34: "NORMAL_CIRCUIT_CONGESTION", 38: "NETWORK_OUT_OF_ORDER", 41: "NORMAL_TEMPORARY_FAILURE",
	42: "SWITCH_CONGESTION", 58: "BEARERCAPABILITY_NOTAVAIL", 127: "INTERWORKING",
}

// CauseName is the Q.850 name of cause ("UNKNOWN" for one it does not know).
func CauseName(cause int) string {
	if n, ok := causeNames[cause]; ok {
		return n
	}
	return "UNKNOWN"
}

// endReason says why a call ended. An answered call ends with its hangup's
// cause (a cause-less hangup being a normal one); one nobody answered, with
// what its last dial found when it found something (no answer, busy), else
// the caller gave up (ORIGINATOR_CANCEL).
func endReason(finish Finish, cause int, dial signal.Outcome) string {
	if finish == FinishOK {
		if cause == 0 {
			return "NORMAL_CLEARING"
		}
		return CauseName(cause)
	}
	switch dial {
	case signal.OutcomeNoAnswer:
		return "NO_ANSWER"
	case signal.OutcomeBusy:
		return "USER_BUSY"
	case signal.OutcomeCongestion:
		return "NORMAL_CIRCUIT_CONGESTION"
	case signal.OutcomeUnavailable:
		return "SUBSCRIBER_ABSENT"
	}
	return "ORIGINATOR_CANCEL"
}
