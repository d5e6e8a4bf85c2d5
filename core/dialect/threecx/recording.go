package threecx

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/webhook"
)

// Placement says where the call id (and the call-end fields, when they
// are sent) go in a recording POST. The document shows the recording body
// as {"FILES":[…]} alone and says the request also carries the call id;
// the module's other requests carry their fields in the query string, so
// that is the default, and the body stays exactly the document's.
type Placement int

const (
	// InQuery: id (or every call-end field) in the query string, in the
	// order of the call-end event; the body is {"FILES":[…]}.
	InQuery Placement = iota
	// InBody: the same fields as JSON members after FILES (or after TEXT
	// and SUMMARY), for receivers that read only the body.
	InBody
)

// WithRecordings sends the recording and speech-analytics POSTs the
// module sends after a call (RecordingReady, TranscriptReady events),
// with the call id placed as p; fullFields sends every field of the
// link's call-end event instead of the id alone (the module's .ini
// switch).
func WithRecordings(p Placement, fullFields bool) Option {
	return func(d *Dialect) { d.recordings, d.placement, d.fullFields = true, p, fullFields }
}

// recordingRequest renders a RecordingReady or TranscriptReady event as
// the module's POST: {"FILES":[links…]} (the document's example, byte for
// byte), or {"TEXT":…,"SUMMARY":…} for analytics (the document names the
// content, full text and short summary, but shows no shape; upper-case
// keys follow FILES).
func (d *Dialect) recordingRequest(ev callmodel.Event) (webhook.Request, bool) {
	if !d.recordings {
		return webhook.Request{}, false
	}
	id := param{"id", FormatID(ev.ID, d.loc)}
	fields := query{id}
	if d.fullFields && ev.Ending != nil {
		if q, ok := d.params(*ev.Ending); ok {
			fields = q
			if fields.get("id") == "" {
				fields = append(fields, id)
			}
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	member := func(name string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSON(&b, name)
		b.WriteByte(':')
		writeJSON(&b, v)
	}
	if ev.Kind == callmodel.TranscriptReady {
		member("TEXT", ev.Transcript)
		member("SUMMARY", ev.Summary)
	} else {
		urls := make([]string, len(ev.Files))
		for i, f := range ev.Files {
			urls[i] = f.URL
		}
		member("FILES", urls)
	}
	u := *d.target
	if d.placement == InBody {
		for _, f := range fields {
			member(f.key, f.value)
		}
	} else if q := fields.encode(); u.RawQuery != "" {
		u.RawQuery += "&" + q
	} else {
		u.RawQuery = q
	}
	b.WriteByte('}')
	return webhook.Request{
		ID:       d.receiver + "-" + ev.Key(),
		Receiver: d.receiver,
		CallKey:  ev.OrderKey(),
		Method:   http.MethodPost,
		URL:      u.String(),
		Header:   http.Header{"Content-Type": []string{"application/json"}},
		Body:     b.Bytes(),
	}, true
}

// writeJSON encodes v without HTML escaping, so links keep their '&'.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)           // strings and string slices cannot fail
	b.Truncate(b.Len() - 1) // Encode's newline
}
